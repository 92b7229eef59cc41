/* Lab 03 server: an uppercase echo for one client.
 *
 * The conversation: one client connects; everything it sends comes back with the ASCII
 * letters a-z turned into A-Z and every other byte unchanged. The server keeps answering
 * until the client closes the connection (or resets it), then it ends with status 0.
 * SIGTERM or Ctrl-C ends it with status 0 too, whenever they come.
 *
 * Lab 01 had a connection loop (accept, answer once, close, accept the next client). This lab
 * has the other loop every TCP program needs, the communication loop:
 *   recv     whatever has arrived: 1 byte, 7 bytes, 16 KiB... never "one message"
 *   0?       recv() returns 0 when the client has closed its side: the conversation is over
 *   send     all of it back; send() too may take only part of the buffer, so we loop
 * and round again, as long as the client keeps talking. */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
    BUF_SIZE = 16384, /* bytes per recv(); any size works, only the number of rounds changes */
    BACKLOG = 1,      /* we serve a single client */
};

/* A socket listening on host:port (as in lab 01). Exits with a message if there is none. */
static int open_listener(const char *host, const char *port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE,
    };
    struct addrinfo *addrs;
    int rc = getaddrinfo(host, port, &hints, &addrs);
    if (rc != 0)
        die("cannot listen on %s port %s: %s", host, port, gai_strerror(rc));

    int fd = -1;
    for (struct addrinfo *ai = addrs; ai != NULL && fd == -1; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1)
            continue;
        int on = 1; /* restart at once, even while old connections sit in TIME_WAIT */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
            int bind_errno = errno;
            close(fd);
            fd = -1;
            errno = bind_errno;
        }
    }
    freeaddrinfo(addrs);
    if (fd == -1)
        die_errno("cannot listen on %s port %s", host, port);
    if (listen(fd, BACKLOG) == -1)
        die_errno("listen");
    return fd;
}

static void print_listening_address(int listener)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(listener, (struct sockaddr *)&local, &len) == -1)
        die_errno("getsockname");
    char text[ADDR_TEXT_LEN];
    printf("listening on %s\n", addr_to_text((struct sockaddr *)&local, len, text));
}

/* Waits for one client and returns its connection, with its address in peer; returns -1 if
 * a stop was requested first. */
static int accept_client(int listener, char peer[ADDR_TEXT_LEN])
{
    for (;;) {
        enum wait_result ready = wait_readable(listener, -1);
        if (ready == WAIT_STOPPED)
            return -1;
        if (ready == WAIT_ERROR)
            die_errno("poll");
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof addr;
        int conn = accept(listener, (struct sockaddr *)&addr, &addr_len);
        if (conn == -1 && (errno == ECONNABORTED || errno == EINTR))
            continue; /* that client gave up before we took it: wait for another */
        if (conn == -1)
            die_errno("accept");
        addr_to_text((struct sockaddr *)&addr, addr_len, peer);
        printf("connection from %s\n", peer);
        return conn;
    }
}

/* Step 2: a-z become A-Z; every other byte, including those above 127, stays as it is.
 * We compare with 'a' and 'z' ourselves rather than call toupper(), whose answer depends on
 * the locale, and which wants an unsigned char (or EOF), not a plain char that may be
 * negative. */
static void uppercase(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = 'A' + (buf[i] - 'a');
    }
}

/* Step 3: sends all len bytes. send() returns how many bytes it took, which may be fewer
 * than we offered (a signal arrived in the middle, a non-blocking socket, a send timeout):
 * the rest is still ours to send, so we loop until nothing is left.
 * MSG_NOSIGNAL: sending to a client that has gone away raises SIGPIPE, whose default action
 * is to kill the process. With this flag send() fails with EPIPE instead, and we decide. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

/* Step 1: the communication loop. Echoes until the client closes the connection, the
 * connection breaks, or a stop is requested; returns how many bytes were echoed.
 * A broken connection (the client reset it, or vanished) ends this conversation, not the
 * server's life: we say so on stderr and return like after a normal close. */
static unsigned long long echo_until_closed(int conn, const char *peer)
{
    unsigned long long count = 0;
    char buf[BUF_SIZE];
    for (;;) {
        enum wait_result ready = wait_readable(conn, -1);
        if (ready == WAIT_STOPPED)
            return count;
        if (ready == WAIT_ERROR)
            die_errno("poll");
        ssize_t n = recv(conn, buf, sizeof buf, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* the client is gone, one way or the other */
            warn("lost %s while receiving", peer);
            return count;
        }
        uppercase(buf, n);
        if (send_all(conn, buf, n) == -1) {
            warn_errno("send to %s", peer);
            return count;
        }
        count += n;
    }
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Echo one TCP client's bytes back in uppercase, until it closes.",
        .host_help = "address to listen on",
        .default_host = "127.0.0.1",
        .port_help = "port to listen on; 0 lets the OS choose",
        .default_port = "9003",
        .port_may_be_zero = true,
    };
    cli_parse(&cli, argc, argv);
    stop_on_signals();

    int listener = open_listener(cli.host, cli.port);
    print_listening_address(listener);
    char peer[ADDR_TEXT_LEN];
    int conn = accept_client(listener, peer);
    /* One client only: closing the listener now makes any other client's connect() fail
     * at once, instead of waiting in the backlog for an accept() that never comes. */
    close(listener);
    if (conn != -1) {
        unsigned long long echoed = echo_until_closed(conn, peer);
        printf("echoed %llu bytes\n", echoed);
        close(conn);
    }
    printf("stopped\n");
    return 0;
}
