/* socklab.h - the little helpers every lab program shares.
 *
 * Nothing here calls socket(), bind(), connect(), send() or recv(): those calls are the
 * lesson, so they stay in the file you edit. What lives here is the plumbing around them:
 * the command line, error messages, turning an address into text, and stopping a server
 * cleanly when it gets SIGTERM or SIGINT (Ctrl-C). */
#ifndef SOCKLAB_H
#define SOCKLAB_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdnoreturn.h>
#include <sys/socket.h>

/* ------------------------------------------------------------------ command line (cli.c) */

/* An option a program has beyond the -H, -p and --help that all of them share. */
struct cli_option {
    int key;          /* the short option letter: 'b' for -b */
    const char *name; /* the long option: "buffer" for --buffer */
    const char *arg;  /* the value's name in the usage text ("SIZE"); NULL for a flag */
    const char *help; /* one line of usage text */
};

struct cli {
    /* Filled in by the program before cli_parse(). */
    const char *summary;   /* one line: what the program does */
    const char *host_help; /* usage text of -H */
    const char *default_host;
    const char *port_help;    /* usage text of -p */
    const char *default_port; /* NULL: -p is required */
    bool port_may_be_zero;    /* servers: -p 0 lets the OS pick a free port */
    const char *operands;     /* usage text of the operands, e.g. "FILE"; NULL: none */
    int min_operands, max_operands;
    const struct cli_option *options; /* extra options, ended by an entry whose key is 0 */
    /* Called for each extra option; returns false if the value is bad (usage, exit 2). */
    bool (*on_option)(void *ctx, int key, const char *value);
    void *ctx;

    /* Set by cli_parse(). */
    const char *host;
    const char *port;
    char **operand;
    int operand_count;
};

/* Parses argv. --help prints the usage and exits 0; a bad argument prints the problem and
 * the usage on stderr and exits 2. Also makes stdout line-buffered, so that every line a
 * program prints reaches a pipe (and the harness) at once. */
void cli_parse(struct cli *cli, int argc, char **argv);

/* For on_option: parse a whole decimal number in [min, max]. */
bool parse_size(const char *text, size_t min, size_t max, size_t *out);
/* For on_option: parse seconds such as "2" or "0.5", more than 0 and at most max. */
bool parse_seconds(const char *text, double max, double *out);

/* The program's name, as run (for messages). */
const char *program_name(void);

/* ---------------------------------------------------------------- messages (cli.c) */

/* "server: WHAT: <strerror(errno)>" on stderr; die_errno then exits 1, warn_errno goes on. */
noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "server: WHAT" on stderr; die then exits 1, warn goes on. */
noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Skeletons only: reports that TODO step STEP is not written yet, and exits 1. Ending the
 * program at once is deliberate: the harness then fails fast and names the step, instead of
 * waiting for an answer that will never come. */
noreturn void todo(int step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ----------------------------------------------------------------- addresses (addr.c) */

/* Room for the longest "[ipv6-address]:port" plus the terminating NUL. */
enum { ADDR_TEXT_LEN = INET6_ADDRSTRLEN + sizeof "[]:65535" };

/* Writes the address as "127.0.0.1:5000" or "[::1]:5000" into text and returns text. */
const char *addr_to_text(const struct sockaddr *addr, socklen_t len, char text[ADDR_TEXT_LEN]);

/* ------------------------------------------------------------- stopping a server (stop.c) */

/* Call once, first thing in a server: from now on SIGTERM and SIGINT do not kill the
 * process; they make wait_readable() return WAIT_STOPPED, so the server can close its
 * sockets, free its memory and exit 0 (which is also what valgrind needs to judge it). */
void stop_on_signals(void);

/* True once SIGTERM or SIGINT has arrived. */
bool stop_requested(void);

/* What wait_readable() saw: compare with these names, never with numbers. */
enum wait_result {
    WAIT_READABLE, /* fd has something to read: a connection, data, the end of the stream */
    WAIT_STOPPED,  /* SIGTERM or SIGINT arrived: close up and exit 0 */
    WAIT_TIMEOUT,  /* timeout_ms passed first */
    WAIT_ERROR,    /* poll failed; errno says why */
};

/* Waits until fd has something to read or timeout_ms milliseconds have passed (-1: no limit),
 * whichever comes first; a stop request ends the wait at once. */
enum wait_result wait_readable(int fd, int timeout_ms);

#endif
