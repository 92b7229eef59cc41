/* Lab 04 server: number the lines of each client, serving clients one after another.
 *
 * The conversation: the server welcomes a client, then answers every line the client sends
 * with the line's number and the line ("1: hello"); "exit" gets "bye" and ends the
 * connection. The count starts at 1 for every client. Then the next client's turn comes.
 * It runs until SIGTERM or Ctrl-C.
 *
 * Two loops, one inside the other:
 *   the connection loop     (serve)     accept a client, talk to it, close, accept the next
 *   the communication loop  (converse)  read a line, answer it, read the next, until it leaves
 * While the inner loop runs, nobody else is served: a second client's connect() succeeds (the
 * kernel completes the handshake and queues the connection), but it waits in the queue until
 * the first client leaves. Lab 05 serves clients at the same time.
 *
 * TCP delivers a stream of bytes, not lines, so read_line() cuts the stream at each newline
 * and keeps what follows for the next call. */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
    MAX_LINE_LEN = 256, /* longest line we answer, in bytes, not counting its newline */
    BACKLOG = 16,       /* connections the kernel may hold for us before we accept them */
    /* "18446744073709551615: " (the longest number), the line, and the newline */
    REPLY_MAX_LEN = 24 + MAX_LINE_LEN + 1,
};

/* What read_line() has received on one connection and not yet handed out. */
struct line_reader {
    int fd;
    char buf[MAX_LINE_LEN + 1]; /* room for the longest line and its newline */
    size_t len;                 /* bytes in buf */
    size_t used;                /* of them, the bytes of the line handed out last time */
    bool overlong;              /* inside a line too long for buf: dropping it up to its '\n' */
};

/* What read_line() found. */
enum line_status {
    LINE_OK,       /* a line, without its newline */
    LINE_TOO_LONG, /* a line longer than MAX_LINE_LEN, read to its end and dropped */
    LINE_END,      /* the client closed the connection (recv returned 0) */
    LINE_ERROR,    /* recv failed; errno says why */
    LINE_STOP,     /* SIGTERM or SIGINT: the server is stopping */
};

/* Everything the server knows about the client it is serving. A fresh one for each
 * connection, so nothing of one client (its count, its half-read line) reaches the next. */
struct connection {
    char peer[ADDR_TEXT_LEN]; /* the client's address, for messages */
    unsigned long lines;      /* lines answered so far */
    struct line_reader in;
};

/* A socket listening on host:port (lab 01). Exits with a message if there is none. */
static int open_listener(const char *host, const char *port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,     /* IPv4 or IPv6: whatever the host is */
        .ai_socktype = SOCK_STREAM, /* TCP */
        .ai_flags = AI_PASSIVE,     /* addresses to listen on, not to connect to */
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
        /* A restarted server may bind at once, while old connections sit in TIME_WAIT. */
        int on = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
            int bind_errno = errno;
            close(fd);
            fd = -1;
            errno = bind_errno; /* keep bind's reason for the message below */
        }
    }
    freeaddrinfo(addrs);
    if (fd == -1)
        die_errno("cannot listen on %s port %s", host, port);
    if (listen(fd, BACKLOG) == -1)
        die_errno("listen");
    return fd;
}

/* With -p 0 the OS chose the port; getsockname() tells us which one it was (lab 01). */
static void print_listening_address(int listener)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(listener, (struct sockaddr *)&local, &len) == -1)
        die_errno("getsockname");
    char text[ADDR_TEXT_LEN];
    printf("listening on %s\n", addr_to_text((struct sockaddr *)&local, len, text));
}

/* Sends all len bytes: send() may take fewer than offered. MSG_NOSIGNAL: a client that has
 * gone makes send() fail with EPIPE instead of raising SIGPIPE, which would kill the server. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t sent = send(fd, buf, len, MSG_NOSIGNAL);
        if (sent == -1 && errno == EINTR)
            continue;
        if (sent == -1)
            return -1;
        buf += sent;
        len -= (size_t)sent;
    }
    return 0;
}

/* Receives more bytes into the free end of r->buf. Returns what recv() returned, or -1 with
 * errno ECANCELED when the server is stopping. Waiting through wait_readable() is what lets
 * SIGTERM end the server even while a client is connected and silent. */
static ssize_t receive_more(struct line_reader *r)
{
    for (;;) {
        enum wait_result ready = wait_readable(r->fd, -1);
        if (ready == WAIT_STOPPED)
            errno = ECANCELED;
        if (ready != WAIT_READABLE)
            return -1;
        ssize_t got = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (got == -1 && errno == EINTR)
            continue;
        return got;
    }
}

/* Step 3: the next line from the client, NUL-terminated, without its newline, in *line (valid
 * until the next call). One recv() may bring part of a line, or several lines and part of
 * the next: the bytes after the newline stay in r->buf for the next call, never lost.
 * (Stevens' readline in UNP keeps them in a static buffer, which serves one connection only;
 * ours live in the connection's own struct.) */
static enum line_status read_line(struct line_reader *r, char **line, size_t *len)
{
    memmove(r->buf, r->buf + r->used, r->len - r->used);
    r->len -= r->used;
    r->used = 0;
    for (;;) {
        char *newline = memchr(r->buf, '\n', r->len);
        if (newline != NULL) {
            size_t i = (size_t)(newline - r->buf);
            r->used = i + 1;
            if (r->overlong) {
                r->overlong = false;
                return LINE_TOO_LONG;
            }
            *newline = '\0';
            *line = r->buf;
            *len = i;
            return LINE_OK;
        }
        /* full: keep the last byte free for the '\0' */
        if (r->len >= sizeof r->buf - 1) {
            r->overlong = true;
            r->len = 0;
        }
        ssize_t got = receive_more(r);
        if (got == 0)
            return LINE_END;
        if (got == -1) {
            if (errno == ECANCELED)
                return LINE_STOP;
            return LINE_ERROR;
        }
        r->len += (size_t)got;
    }
}

/* The answer to one line, in reply (REPLY_MAX_LEN bytes); returns its length. The line is
 * copied with memcpy, not printf's %s, so that every byte comes back, even a NUL. */
static size_t numbered_reply(unsigned long number, const char *line, size_t len, char *reply)
{
    int prefix = snprintf(reply, REPLY_MAX_LEN, "%lu: ", number);
    memcpy(reply + prefix, line, len);
    reply[(size_t)prefix + len] = '\n';
    return (size_t)prefix + len + 1;
}

/* Sends text to the client; false (with a warning) if the client has gone. */
static bool send_text(const struct connection *c, const char *text, size_t len)
{
    if (send_all(c->in.fd, text, len) == 0)
        return true;
    warn_errno("send to %s", c->peer);
    return false;
}

/* Step 2: the communication loop with one client: a welcome, then an answer for each line,
 * until the client says "exit" or goes away. Whatever the client does, we only return: a
 * client must never be able to stop the server. */
static void converse(struct connection *c)
{
    char text[REPLY_MAX_LEN];
    int n = snprintf(text, sizeof text, "welcome %s, send lines; 'exit' to leave\n", c->peer);
    if (!send_text(c, text, (size_t)n))
        return;
    for (;;) {
        char *line;
        size_t len;
        enum line_status status = read_line(&c->in, &line, &len);
        if (status == LINE_END || status == LINE_STOP)
            return;
        if (status == LINE_ERROR) {
            warn_errno("receive from %s", c->peer);
            return;
        }
        if (status == LINE_TOO_LONG) {
            ++c->lines;
            n = snprintf(text, sizeof text, "error: line %lu is longer than %d bytes\n", c->lines,
                         MAX_LINE_LEN);
            if (!send_text(c, text, (size_t)n))
                return;
            continue;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 4 && memcmp(line, "exit", 4) == 0) {
            send_text(c, "bye\n", 4);
            return;
        }
        size_t reply_len = numbered_reply(++c->lines, line, len, text);
        if (!send_text(c, text, reply_len))
            return;
    }
}

/* Step 1: the connection loop. One client at a time: accept it, give it fresh state,
 * converse until it leaves, close its socket, and only then accept the next. */
static void serve(int listener)
{
    for (;;) {
        enum wait_result ready = wait_readable(listener, -1);
        if (ready == WAIT_STOPPED)
            return;
        if (ready == WAIT_ERROR)
            die_errno("poll");
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof addr;
        int fd = accept(listener, (struct sockaddr *)&addr, &addr_len);
        if (fd == -1) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            die_errno("accept");
        }
        struct connection c = {.lines = 0};
        c.in.fd = fd;
        addr_to_text((struct sockaddr *)&addr, addr_len, c.peer);
        printf("connection from %s\n", c.peer);
        converse(&c);
        close(fd);
        printf("closed %s after %lu %s\n", c.peer, c.lines, c.lines == 1 ? "line" : "lines");
    }
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Number the lines of TCP clients, one client at a time, until SIGTERM or "
                   "Ctrl-C.",
        .host_help = "address to listen on",
        .default_host = "127.0.0.1",
        .port_help = "port to listen on; 0 lets the OS choose",
        .default_port = "9004",
        .port_may_be_zero = true,
    };
    cli_parse(&cli, argc, argv);
    stop_on_signals();

    int listener = open_listener(cli.host, cli.port);
    print_listening_address(listener);
    serve(listener);
    close(listener);
    printf("stopped\n");
    return 0;
}
