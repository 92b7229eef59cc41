/* Lab 06 server: answer every UDP datagram with its uppercase copy.
 *
 * The conversation: a client sends one datagram; the server sends back one datagram, the same
 * bytes with a-z made A-Z, to the address the datagram came from. There is no connection: the
 * next datagram may come from anybody. The server logs each sender and runs until SIGTERM or
 * Ctrl-C.
 *
 * The life of a UDP server, one call at a time:
 *   getaddrinfo  turns "-H 127.0.0.1 -p 9006" into addresses we can bind to (SOCK_DGRAM)
 *   socket       makes a datagram endpoint
 *   bind         claims the address and port; from now on datagrams sent there are queued for us
 *   recvfrom     takes the next whole datagram, and tells us who sent it
 *   sendto       sends one datagram to the address we name
 * No listen(), no accept(): one socket serves every client. */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <unistd.h>

enum {
    /* The UDP header stores a datagram's length in 16 bits, so no datagram can carry more
     * than 65535 bytes (the real limit is lower: 65507 over IPv4, 65527 over IPv6, once the
     * headers are counted). A buffer this big can never be too small: recvfrom() cuts a
     * datagram that does not fit and throws the rest away. */
    MAX_DATAGRAM = 65535,
};

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
        die("cannot bind to %s port %s: %s", host, port, gai_strerror(rc));

    /* No SO_REUSEADDR here: UDP has no connections, so nothing lingers in TIME_WAIT to keep a
     * restarted server from binding its port again. */
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
        die_errno("cannot bind to %s port %s", host, port);
    return fd;
}

/* With -p 0 the OS chose the port; getsockname() tells us which one it was. A UDP socket does
 * not listen(), but the line is the same as for TCP servers: this is where clients send. */
static void print_listening_address(int fd)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &len) == -1)
        die_errno("getsockname");
    char text[ADDR_TEXT_LEN];
    printf("listening on %s\n", addr_to_text((struct sockaddr *)&local, len, text));
}

/* a-z become A-Z; every other byte, NUL and bytes above 127 included, stays as it is. Not
 * toupper(): in some locales it changes bytes above 127 too, and a datagram may be binary. */
static void uppercase_ascii(unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] >= 'a' && data[i] <= 'z')
            data[i] = (unsigned char)(data[i] - 'a' + 'A');
}

/* Step 3: send the reply to the address the request came from. A datagram goes out whole or
 * not at all, so there is no loop as for TCP: sendto() returns the full length, or -1.
 * A failure concerns this one client: we report it and serve the next. */
static void reply(int fd, const unsigned char *data, size_t len, const struct sockaddr *to,
                  socklen_t to_len, const char *peer)
{
    ssize_t sent = sendto(fd, data, len, 0, to, to_len);
    if (sent == -1)
        warn_errno("sendto %s", peer);
    else if ((size_t)sent != len)
        warn("sendto %s: sent %zd of %zu bytes", peer, sent, len);
}

/* Step 2: the datagram loop. Each recvfrom() returns exactly one datagram, however small: an
 * empty one (0 bytes) is a message like any other, not the end of anything - UDP has no end. */
static void serve(int fd)
{
    unsigned char data[MAX_DATAGRAM]; /* 64 KiB: fine on the stack of a one-thread program */
    for (;;) {
        enum wait_result ready = wait_readable(fd, -1);
        if (ready == WAIT_STOPPED)
            return; /* SIGTERM or SIGINT */
        if (ready == WAIT_ERROR)
            die_errno("poll");
        /* recvfrom() fills in the sender's address: the only way to know whom to answer.
         * peer_len goes in as the room we have and comes out as the size used, so it is set
         * again before every call. */
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        ssize_t got = recvfrom(fd, data, sizeof data, 0, (struct sockaddr *)&peer, &peer_len);
        if (got == -1) {
            /* EINTR: a signal; ECONNREFUSED: some systems report here that an earlier reply
             * found no one at its address. Neither is a reason to stop serving others. */
            if (errno == EINTR || errno == ECONNREFUSED)
                continue;
            die_errno("recvfrom");
        }
        char peer_text[ADDR_TEXT_LEN];
        addr_to_text((struct sockaddr *)&peer, peer_len, peer_text);
        printf("datagram of %zd bytes from %s\n", got, peer_text);
        uppercase_ascii(data, (size_t)got);
        reply(fd, data, (size_t)got, (struct sockaddr *)&peer, peer_len, peer_text);
    }
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Answer every UDP datagram with its uppercase copy, until SIGTERM or Ctrl-C.",
        .host_help = "address to receive on",
        .default_host = "127.0.0.1",
        .port_help = "UDP port to receive on; 0 lets the OS choose",
        .default_port = "9006",
        .port_may_be_zero = true,
    };
    cli_parse(&cli, argc, argv);
    stop_on_signals();

    int fd = open_socket(cli.host, cli.port);
    print_listening_address(fd);
    serve(fd);
    close(fd);
    printf("stopped\n");
    return 0;
}
