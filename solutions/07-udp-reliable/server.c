/* Lab 07 server: answer numbered requests over UDP, and lose some of them on purpose.
 *
 * The protocol: a request is one datagram "ID TEXT", where ID is the client's request number
 * in decimal (1 to 4294967295) and TEXT is anything, even empty. The answer is one datagram
 * "ID TEXT-IN-UPPERCASE", sent back to the address the request came from. Carrying the ID
 * back lets the client tell which of its requests a reply belongs to.
 *
 * Losing requests: on a quiet machine UDP on loopback loses nothing, so there would be
 * nothing to retransmit. -d N drops the first N well-formed requests; -r PERCENT drops that
 * share of the rest at random, from a generator seeded with -s, so that a run can be
 * repeated exactly. A dropped request is logged and gets no answer, as if the network had
 * lost it (or lost the answer: the client cannot tell the two apart).
 *
 * The life of a UDP server:
 *   getaddrinfo  turns "-H 127.0.0.1 -p 9007" into addresses we can bind to (SOCK_DGRAM)
 *   socket, bind claim the port; no listen(), no accept(): there are no connections
 *   recvfrom     takes the next whole datagram, and says who sent it
 *   sendto       sends the answer to that address */
#include "socklab.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    /* No UDP datagram is longer than 65535 bytes, headers included: a buffer this big can
     * never be too small, so recvfrom() never cuts a request short. */
    MAX_DATAGRAM = 65535,
    ID_MAX_DIGITS = 10, /* 4294967295 */
};

/* How the server loses requests (-d, -r, -s). */
struct loss {
    size_t drop_first; /* drop this many requests first */
    size_t percent;    /* then drop this share of the others, at random */
    uint32_t random;   /* the generator's state, set from the seed */
    size_t seen;       /* well-formed requests so far */
};

/* A small random number generator of our own (a linear congruential one, the constants
 * from Numerical Recipes) rather than rand(): rand()'s sequence differs from one C library
 * to the next, and a seeded run should drop the same requests on every machine. */
static uint32_t next_random(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 16; /* the low bits of an LCG repeat quickly; the high ones do not */
}

/* Decides whether this request is "lost": the first drop_first are, then percent of the
 * others. */
static bool lose_request(struct loss *loss)
{
    loss->seen++;
    if (loss->seen <= loss->drop_first)
        return true;
    return loss->percent > 0 && next_random(&loss->random) % 100 < loss->percent;
}

/* Step 1: a UDP socket bound to host:port. Exits with a message if there is none. */
static int open_socket(const char *host, const char *port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,    /* IPv4 or IPv6: whatever the host is */
        .ai_socktype = SOCK_DGRAM, /* UDP */
        .ai_flags = AI_PASSIVE,    /* addresses to receive on, not to send to */
    };
    struct addrinfo *addrs;
    int rc = getaddrinfo(host, port, &hints, &addrs);
    if (rc != 0)
        die("cannot listen on %s port %s: %s", host, port, gai_strerror(rc));

    /* No SO_REUSEADDR: UDP has no connections, so nothing lingers in TIME_WAIT after a
     * restart, and the option would only let a second server share the port by mistake. */
    int fd = -1;
    for (struct addrinfo *ai = addrs; ai != NULL && fd == -1; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd != -1 && bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
            int bind_errno = errno;
            close(fd);
            fd = -1;
            errno = bind_errno; /* keep bind's reason for the message below */
        }
    }
    freeaddrinfo(addrs);
    if (fd == -1)
        die_errno("cannot listen on %s port %s", host, port);
    return fd;
}

/* With -p 0 the OS chose the port; getsockname() tells us which one it was. */
static void print_listening_address(int fd)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &len) == -1)
        die_errno("getsockname");
    char text[ADDR_TEXT_LEN];
    printf("listening on %s\n", addr_to_text((struct sockaddr *)&local, len, text));
}

/* Reads the ID at the start of a request: 1 to 10 digits, then a space. Returns the
 * length of "ID " (where the text starts), or 0 if the request does not start that way. The
 * datagram is not a C string (it may hold any byte, and has no NUL), hence the length. */
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

/* Step 3: one request: log it, and answer it unless it is "lost". The answer is the
 * request itself in uppercase - the ID's digits and the space stay as they are. */
static void answer(int fd, char *data, size_t len, const struct sockaddr *peer, socklen_t peer_len,
                   struct loss *loss)
{
    char peer_text[ADDR_TEXT_LEN];
    addr_to_text(peer, peer_len, peer_text);
    uint32_t id;
    if (parse_id(data, len, &id) == 0) {
        printf("ignored a malformed datagram from %s\n", peer_text);
        return;
    }
    if (lose_request(loss)) {
        printf("request %" PRIu32 " from %s: dropped\n", id, peer_text);
        return;
    }
    /* a-z become A-Z, every other byte stays: compared by hand, as in labs 03 and 06, since
     * toupper() depends on the locale and may change bytes above 127 too. */
    for (size_t i = 0; i < len; i++)
        if (data[i] >= 'a' && data[i] <= 'z')
            data[i] = (char)(data[i] - 'a' + 'A');
    /* A datagram is sent whole or not at all: no loop as for TCP. A failure concerns this
     * one client (its network may be gone), so we report it and serve the next. */
    ssize_t sent = sendto(fd, data, len, 0, peer, peer_len);
    if (sent == -1) {
        warn_errno("sendto %s", peer_text);
        return;
    }
    printf("request %" PRIu32 " from %s: answered\n", id, peer_text);
}

/* Step 2: the datagram loop: one recvfrom() is one whole request, from whoever sent it. */
static void serve(int fd, struct loss *loss)
{
    static char data[MAX_DATAGRAM]; /* static: 64 KiB is a lot for a stack */
    for (;;) {
        /* Waiting here rather than in recvfrom() lets SIGTERM and Ctrl-C end the wait. */
        enum wait_result ready = wait_readable(fd, -1);
        if (ready == WAIT_STOPPED)
            return;
        if (ready == WAIT_ERROR)
            die_errno("poll");
        /* peer_len is value-result: set it again before every call. */
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        ssize_t got = recvfrom(fd, data, sizeof data, 0, (struct sockaddr *)&peer, &peer_len);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1)
            die_errno("recvfrom");
        answer(fd, data, (size_t)got, (struct sockaddr *)&peer, peer_len, loss);
    }
}

static bool on_option(void *ctx, int key, const char *value)
{
    struct loss *loss = ctx;
    size_t seed;
    switch (key) {
    case 'd':
        return parse_size(value, 0, SIZE_MAX, &loss->drop_first);
    case 'r':
        return parse_size(value, 0, 100, &loss->percent);
    case 's':
        if (!parse_size(value, 0, UINT32_MAX, &seed))
            return false;
        loss->random = (uint32_t)seed;
        return true;
    default:
        return false;
    }
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'d', "drop-first", "N", "drop the first N requests (default 0)"},
        {'r', "loss", "PERCENT", "then drop this share of requests at random (default 0)"},
        {'s', "seed", "N", "seed of the random drops, to repeat a run (default 1)"},
        {0},
    };
    struct loss loss = {.drop_first = 0, .percent = 0, .random = 1};
    struct cli cli = {
        .summary = "Answer numbered UDP requests in uppercase, losing some on purpose.",
        .host_help = "address to listen on",
        .default_host = "127.0.0.1",
        .port_help = "port to listen on; 0 lets the OS choose",
        .default_port = "9007",
        .port_may_be_zero = true,
        .options = extra,
        .on_option = on_option,
        .ctx = &loss,
    };
    cli_parse(&cli, argc, argv);
    stop_on_signals();

    int fd = open_socket(cli.host, cli.port);
    print_listening_address(fd);
    serve(fd, &loss);
    close(fd);
    printf("stopped\n");
    return 0;
}
