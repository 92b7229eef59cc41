/* Lab 08 client: ask the time server for the time, in a format of our choosing.
 *
 * It sends one datagram, the format given with -f (none: an empty datagram, and the server
 * uses its default), and prints the one datagram that comes back. UDP promises nothing: the
 * request or the reply may be lost, or no server may be there at all, so the client waits at
 * most -t seconds and then gives up, saying so.
 *
 * Exit status: 0 with the time printed on stdout; 3 when the server answered "error: ..."
 * (printed on stderr); 1 when there was no answer; 2 for bad arguments. */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
    REPLY_BUF = 65536,     /* the largest UDP datagram fits: no reply is ever cut short */
    EXIT_SERVER_ERROR = 3, /* the server answered with an error */
};

struct options {
    const char *format;
    double timeout; /* seconds */
};

/* Step 6: a UDP socket connected to host:port. connect() on a datagram socket sends nothing:
 * it fixes the address that send() sends to, and makes the kernel drop datagrams from any
 * other address, so the only reply we can receive is the server's (lab 07). */
static int open_socket(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *addrs;
    int rc = getaddrinfo(host, port, &hints, &addrs);
    if (rc != 0)
        die("cannot reach %s port %s: %s", host, port, gai_strerror(rc));
    int fd = -1;
    for (struct addrinfo *ai = addrs; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        int saved = errno;
        close(fd);
        fd = -1;
        errno = saved;
    }
    freeaddrinfo(addrs);
    if (fd == -1)
        die_errno("cannot reach %s port %s", host, port);
    return fd;
}

/* What came of waiting for the reply. */
enum outcome { GOT_REPLY, TIMED_OUT, FAILED };

/* Step 7: the reply, into reply[0..cap) and its length into *len, waiting at most timeout_ms
 * for it. FAILED comes with errno set: ECONNREFUSED when nothing listens on the server's
 * port, reported to us because the socket is connected. */
static enum outcome receive_reply(int fd, char *reply, size_t cap, int timeout_ms, size_t *len)
{
    enum wait_result ready = wait_readable(fd, timeout_ms);
    if (ready == WAIT_TIMEOUT)
        return TIMED_OUT;
    if (ready != WAIT_READABLE)
        return FAILED;
    ssize_t n;
    do {
        n = recv(fd, reply, cap, 0);
    } while (n == -1 && errno == EINTR);
    if (n == -1)
        return FAILED;
    *len = (size_t)n;
    return GOT_REPLY;
}

/* Step 8: the time goes to stdout; an error reply to stderr, with its own exit status. The
 * reply is bytes, not a string: fwrite prints exactly len of them. */
static int print_reply(const char *reply, size_t len)
{
    if (len >= 6 && memcmp(reply, "error:", 6) == 0) {
        fprintf(stderr, "%s: %.*s\n", program_name(), (int)len, reply);
        return EXIT_SERVER_ERROR;
    }
    if (fwrite(reply, 1, len, stdout) != len || putchar('\n') == EOF)
        die_errno("write to stdout");
    return 0;
}

static bool on_option(void *ctx, int key, const char *value)
{
    struct options *opts = ctx;
    if (key == 'f') {
        opts->format = value; /* any format: judging it is the server's job */
        return true;
    }
    return key == 't' && parse_seconds(value, 3600, &opts->timeout);
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'f', "format", "FORMAT", "strftime format, such as '%H:%M' (default: the server's)"},
        {'t', "timeout", "SECONDS", "how long to wait for the reply (default 2)"},
        {0},
    };
    struct options opts = {.format = "", .timeout = 2.0};
    struct cli cli = {
        .summary = "Ask the lab 08 time server for the time and print it.",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9008",
        .options = extra,
        .on_option = on_option,
        .ctx = &opts,
    };
    cli_parse(&cli, argc, argv);

    int fd = open_socket(cli.host, cli.port);
    /* One datagram: send() takes all of it or fails, never a part. */
    size_t format_len = strlen(opts.format);
    if (send(fd, opts.format, format_len, 0) != (ssize_t)format_len) {
        int send_errno = errno;
        close(fd);
        errno = send_errno;
        die_errno("send to %s port %s", cli.host, cli.port);
    }

    char reply[REPLY_BUF];
    size_t len;
    enum outcome outcome = receive_reply(fd, reply, sizeof reply, (int)(opts.timeout * 1000), &len);
    int receive_errno = errno;
    close(fd); /* before any exit below: nothing is left open, whatever happens */
    errno = receive_errno;
    if (outcome == TIMED_OUT)
        die("no reply from %s port %s within %g s", cli.host, cli.port, opts.timeout);
    if (outcome == FAILED)
        die_errno("no reply from %s port %s", cli.host, cli.port);
    return print_reply(reply, len);
}
