/* Lab 06 client: send one datagram to the uppercase server, print the reply.
 *
 * The life of a UDP client:
 *   getaddrinfo  turns "-H 127.0.0.1 -p 9006" into the server's address (SOCK_DGRAM)
 *   socket       makes a datagram endpoint; no connect(), no bind()
 *   sendto       sends the message to the server; the OS gives us an ephemeral port here
 *   recvfrom     takes the next datagram and its sender: we keep only the server's
 *   close        we are done
 * UDP promises nothing: a datagram may be lost, and then no reply ever comes. So the client
 * waits for the reply only so long (-t), and then gives up with a clear message.
 * The socket stays unconnected, so any program may send to it: we check by hand that the
 * reply comes from the server's address, which shows what recvfrom() tells us. (connect()
 * would make the kernel do that check; lab 07 takes that road.) */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    /* The UDP length field has 16 bits: no datagram carries more than this (the real limit
     * is 65507 bytes over IPv4). A reply this big fits whole in our buffer. */
    MAX_DATAGRAM = 65535,
    DEFAULT_TIMEOUT = 3, /* seconds to wait for the reply, without -t */
};

struct options {
    const char *message; /* -m TEXT; NULL: read the message from stdin */
    double timeout;      /* -t SECONDS */
};

/* Where the server is: its address, kept for sendto() and to recognise its replies. */
struct server {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char text[ADDR_TEXT_LEN];
};

/* Step 4: a UDP socket, and the server's address in *server. Exits with a message if the
 * host cannot be resolved. */
static int open_socket(const char *host, const char *port, struct server *server)
{
    /* TODO step 4: see step 4 in README.md. */
    todo(4, "open_socket(\"%s\", \"%s\", ...)", host, port);
}

/* Step 5: send the message as one datagram, then say where from. Before the first sendto()
 * the socket has no port; sendto() binds it to an ephemeral one, which getsockname() now
 * shows. The address part is the wildcard (0.0.0.0, or :: for IPv6): an unconnected socket
 * is not tied to one route, so the kernel picks the source address per datagram.
 * Returns false (with a message) if the datagram could not be sent. */
static bool send_message(int fd, const struct server *server, const void *msg, size_t len)
{
    /* TODO step 5: see step 5 in README.md. */
    todo(5, "send_message(%d, %s, ..., %zu)", fd, server->text, len);
}

/* True if a and b are the same IP address and port. Not memcmp() on the whole structures:
 * they have fields that are not part of the address (padding, IPv6 flow information). */
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

/* The moment ms milliseconds from now, on a clock that never jumps (unlike the time of day). */
static struct timespec deadline_in(int ms)
{
    struct timespec end;
    if (clock_gettime(CLOCK_MONOTONIC, &end) == -1)
        die_errno("clock_gettime");
    end.tv_sec += ms / 1000;
    end.tv_nsec += ms % 1000 * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    return end;
}

/* Milliseconds from now until the moment end (0 once it has passed). */
static int ms_until(const struct timespec *end)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
        die_errno("clock_gettime");
    long long ms = (end->tv_sec - now.tv_sec) * 1000LL + (end->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? (int)ms : 0;
}

/* Step 6: wait for the server's reply, at most timeout_ms in all. Our socket is not
 * connected, so anybody may send us a datagram: one that does not come from the server's
 * address is reported and ignored (lab 07 goes further). Returns the reply's length, or -1
 * (with a message) if none came in time. */
static ssize_t receive_reply(int fd, const struct server *server, unsigned char *reply, size_t cap,
                             int timeout_ms)
{
    /* TODO step 6: see step 6 in README.md. */
    todo(6, "receive_reply(%d, %s, ..., %zu, %d)", fd, server->text, cap, timeout_ms);
}

/* The message from stdin, when there is no -m: every byte up to the end of input, binary
 * included. Empty input is an empty message, which UDP carries like any other. */
static size_t read_message(unsigned char *buf, size_t cap)
{
    size_t len = fread(buf, 1, cap, stdin);
    if (ferror(stdin))
        die_errno("cannot read the message from stdin");
    if (len == cap && getchar() != EOF)
        die("the message is longer than %zu bytes: no UDP datagram can carry it", cap);
    return len;
}

static bool on_option(void *ctx, int key, const char *value)
{
    struct options *opts = ctx;
    if (key == 'm') {
        opts->message = value; /* an empty message is allowed: it is a valid datagram */
        return true;
    }
    return key == 't' && parse_seconds(value, 3600, &opts->timeout);
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'m', "message", "TEXT", "the message to send (default: all of stdin)"},
        {'t', "timeout", "SECONDS", "how long to wait for the reply (default 3)"},
        {0},
    };
    struct options opts = {.message = NULL, .timeout = DEFAULT_TIMEOUT};
    struct cli cli = {
        .summary = "Send one UDP datagram to the lab 06 server and print its reply.",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9006",
        .options = extra,
        .on_option = on_option,
        .ctx = &opts,
    };
    cli_parse(&cli, argc, argv);

    /* 64 KiB each: fine on the stack of a one-thread program. */
    unsigned char message[MAX_DATAGRAM], reply[MAX_DATAGRAM];
    const void *msg = opts.message;
    size_t msg_len;
    if (opts.message != NULL) {
        msg_len = strlen(opts.message);
    } else {
        msg_len = read_message(message, sizeof message);
        msg = message;
    }
    int timeout_ms = (int)(opts.timeout * 1000 + 0.5);
    if (timeout_ms < 1)
        timeout_ms = 1; /* -t 0.0001 still waits a little */

    struct server server;
    int fd = open_socket(cli.host, cli.port, &server);
    ssize_t reply_len = -1;
    if (send_message(fd, &server, msg, msg_len))
        reply_len = receive_reply(fd, &server, reply, sizeof reply, timeout_ms);
    close(fd); /* now, before anything below can end the program */
    if (reply_len == -1)
        return 1; /* the reason is on stderr already */

    /* The reply's bytes exactly as they came, binary included, then a newline of our own. */
    printf("reply of %zd bytes from %s: ", reply_len, server.text);
    if (fwrite(reply, 1, (size_t)reply_len, stdout) != (size_t)reply_len || putchar('\n') == EOF)
        die_errno("cannot print the reply");
    return 0;
}
