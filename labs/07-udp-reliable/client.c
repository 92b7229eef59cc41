/* Lab 07 client: ask the server once, reliably, over an unreliable network.
 *
 * UDP may lose a request or its reply, and says nothing when it does. So the client sends
 * its request, waits a little, and if no reply comes, sends it again and waits twice as long
 * (exponential backoff), until a reply comes or the next wait would be longer than the limit
 * (-l): then it gives up, with exit status 1.
 *
 * Each attempt carries its own request ID ("3 hello" is attempt 3), and the server's reply
 * carries it back ("3 HELLO"). A reply to an earlier attempt that arrives late is thus
 * recognised, reported and ignored: we wait for the reply to the request we sent last.
 *
 * Who may reply: by default the socket is not connected, and anybody on the network can
 * send it a datagram. The client compares the sender of each one with the server's address,
 * and reports and ignores the others. With -c (--connect) the socket is connected to the
 * server: the kernel then drops datagrams from anyone else before we see them, and tells
 * us "Connection refused" when the server's port is closed, instead of silence.
 *
 * The life of this client:
 *   getaddrinfo  the server's address (SOCK_DGRAM)
 *   socket       a datagram endpoint; with -c also connect(), which sends nothing
 *   sendto/send  one request per attempt
 *   poll         waits for a reply, at most the time left in this attempt's wait
 *   recvfrom     takes a datagram and its sender */
#include "socklab.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    /* No UDP datagram is longer than 65535 bytes: whatever arrives fits whole. */
    MAX_DATAGRAM = 65535,
    MESSAGE_MAX = 1024, /* the longest message we send (-m) */
    REQUEST_MAX = MESSAGE_MAX + sizeof "4294967295 ",
    ID_MAX_DIGITS = 10,    /* 4294967295 */
    MAX_WAIT_SECONDS = 60, /* the largest -w and -l we accept */
};

struct options {
    const char *message; /* -m: the text of the request */
    double first_wait;   /* -w: seconds to wait for the reply to the first attempt */
    double limit;        /* -l: give up rather than wait longer than this */
    bool connected;      /* -c: connect() the socket to the server */
};

/* Where the server is: its address (for sendto() and to recognise its replies). */
struct server {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char text[ADDR_TEXT_LEN];
    bool connected; /* the socket is connected to it: the kernel checks who replies */
};

/* Step 4: a UDP socket for talking to host:port; the server's address goes in *server.
 * With connected, the socket is also connect()ed to it. Exits with a message on failure. */
static int open_socket(const char *host, const char *port, bool connected, struct server *server)
{
    /* TODO step 4: see step 4 in README.md. */
    todo(4, "open_socket(\"%s\", \"%s\", %s, ...)", host, port, connected ? "true" : "false");
}

/* Step 5: sends one request. A connected socket already knows where to: send(); an
 * unconnected one is told each time: sendto(). A datagram goes whole or not at all, so
 * there is no loop as for TCP. False (and a message) if it failed. */
static bool send_request(int fd, const struct server *server, const char *request, size_t len)
{
    /* TODO step 5: see step 5 in README.md. */
    todo(5, "send_request(%d, ..., \"%.*s\")", fd, (int)len, request);
}

/* True if a and b are the same IP address and port. Not memcmp() on the whole structures:
 * they have bytes that are not part of the address (padding, IPv6 flow information). */
static bool same_address(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
        const struct sockaddr_in *b4 = (const struct sockaddr_in *)b;
        return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;
        return a6->sin6_port == b6->sin6_port &&
               memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof a6->sin6_addr) == 0;
    }
    return false;
}

/* The moment ms milliseconds from now, on the monotonic clock (which, unlike the time of
 * day, never jumps when someone sets the clock). */
static struct timespec moment_after(int ms)
{
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) == -1)
        die_errno("clock_gettime");
    t.tv_sec += ms / 1000;
    t.tv_nsec += ms % 1000 * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Milliseconds from now until the moment end: rounded up, so that we never wake up a
 * fraction of a millisecond early and wait again for 0 ms; 0 once end has passed. */
static int ms_until(const struct timespec *end)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
        die_errno("clock_gettime");
    long long ns = (end->tv_sec - now.tv_sec) * 1000000000LL + (end->tv_nsec - now.tv_nsec);
    return ns > 0 ? (int)((ns + 999999) / 1000000) : 0;
}

/* Reads the ID at the start of a reply: 1 to 10 digits, then a space. Returns the length
 * of "ID " (where the text starts), or 0 if the datagram does not start that way. */
static size_t parse_id(const char *data, size_t len, uint32_t *id)
{
    size_t digits = 0;
    uint64_t value = 0;
    while (digits < len && digits <= ID_MAX_DIGITS && isdigit((unsigned char)data[digits]))
        value = value * 10 + (uint64_t)(data[digits++] - '0');
    if (digits == 0 || digits > ID_MAX_DIGITS || digits == len || data[digits] != ' ' ||
        value == 0 || value > UINT32_MAX)
        return 0;
    *id = (uint32_t)value;
    return digits + 1;
}

/* A datagram that arrived, and what we found in it. */
struct reply {
    char data[MAX_DATAGRAM];
    size_t len;
    uint32_t id; /* the request it answers */
    size_t text; /* where its text starts, after "ID " */
};

/* Step 6: is this datagram, from this sender, the reply to request id? If not, says why on
 * stdout and returns false. */
static bool is_reply_to(const struct server *server, uint32_t id, struct reply *reply,
                        const struct sockaddr *from, socklen_t from_len)
{
    /* TODO step 6: see step 6 in README.md. */
    todo(6, "is_reply_to(..., %" PRIu32 ", ...)", id);
}

/* What came of waiting for a reply. */
enum outcome { GOT_REPLY, TIMED_OUT, FAILED };

/* Step 7: waits for the reply to request id, for wait_ms milliseconds in all. Datagrams
 * that are not the reply are ignored, and do not restart the wait: we wait until a fixed
 * moment, not for a fixed time after the last datagram, or a stranger sending us rubbish
 * twice a second would keep us waiting forever. FAILED comes with a message. */
static enum outcome await_reply(int fd, const struct server *server, uint32_t id, int wait_ms,
                                struct reply *reply)
{
    /* TODO step 7: see step 7 in README.md. */
    todo(7, "await_reply(%d, ..., %" PRIu32 ", %d, ...)", fd, id, wait_ms);
}

/* Step 8: sends the request again and again, waiting twice as long each time, until the
 * reply comes or the next wait would be longer than limit_ms. Each attempt is a request
 * with its own ID: the attempt's number. True if a reply came; false, with a message, if
 * none did or something failed. */
static bool ask(int fd, const struct server *server, const char *message, int first_ms,
                int limit_ms, struct reply *reply)
{
    /* TODO step 8: see step 8 in README.md. */
    todo(8, "ask(%d, ..., \"%s\", %d, %d, ...)", fd, message, first_ms, limit_ms);
}

static int to_ms(double seconds)
{
    int ms = (int)(seconds * 1000 + 0.5);
    return ms > 0 ? ms : 1;
}

static bool on_option(void *ctx, int key, const char *value)
{
    struct options *opts = ctx;
    switch (key) {
    case 'm':
        opts->message = value;
        return strlen(value) <= MESSAGE_MAX;
    case 'w':
        return parse_seconds(value, MAX_WAIT_SECONDS, &opts->first_wait);
    case 'l':
        return parse_seconds(value, MAX_WAIT_SECONDS, &opts->limit);
    case 'c':
        opts->connected = true;
        return true;
    default:
        return false;
    }
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'m', "message", "TEXT", "the text to send, at most 1024 bytes (default hello)"},
        {'w', "wait", "SECONDS", "wait for the first reply (default 0.1), then twice as long"},
        {'l', "limit", "SECONDS", "give up rather than wait longer than this (default 2)"},
        {'c', "connect", NULL, "connect() the socket: the kernel filters other senders"},
        {0},
    };
    struct options opts = {.message = "hello", .first_wait = 0.1, .limit = 2.0};
    struct cli cli = {
        .summary = "Ask the lab 07 server over UDP, retrying with exponential backoff.",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9007",
        .options = extra,
        .on_option = on_option,
        .ctx = &opts,
    };
    cli_parse(&cli, argc, argv);

    struct server server;
    int fd = open_socket(cli.host, cli.port, opts.connected, &server);
    static struct reply reply; /* static: 64 KiB is a lot for a stack */
    bool ok = ask(fd, &server, opts.message, to_ms(opts.first_wait), to_ms(opts.limit), &reply);
    close(fd); /* on every path: valgrind checks that nothing is left open */
    if (!ok)
        return 1;
    /* The text exactly as it came, then a newline of our own. */
    printf("reply to request %" PRIu32 " from %s: ", reply.id, server.text);
    fwrite(reply.data + reply.text, 1, reply.len - reply.text, stdout);
    putchar('\n');
    return 0;
}
