/* Lab 05 client: talk to the threaded greeting server, one line at a time.
 *
 * It connects, prints the server's welcome, then sends each line of its standard input as a
 * name and prints the reply line the server sends back. It stops after "exit" (the server
 * answers "Bye!" and closes) or at the end of its input. Run several at once, in several
 * terminals: the threaded server talks to all of them at the same time. */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    LINE_MAX_LEN = 256, /* longest reply line we accept, newline included */
};

/* The server's side of the connection, and what has arrived from it but was not used yet. */
struct server_conn {
    int fd;
    char pending[LINE_MAX_LEN];
    size_t pending_len;
};

/* A socket connected to host:port (as in lab 01). Exits with a message if none answers. */
static int connect_to_server(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *addrs;
    int rc = getaddrinfo(host, port, &hints, &addrs);
    if (rc != 0)
        die("cannot connect to %s port %s: %s", host, port, gai_strerror(rc));

    int fd = -1;
    for (struct addrinfo *ai = addrs; ai != NULL && fd == -1; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
            int connect_errno = errno;
            close(fd);
            fd = -1;
            errno = connect_errno;
        }
    }
    freeaddrinfo(addrs);
    if (fd == -1)
        die_errno("cannot connect to %s port %s", host, port);
    return fd;
}

/* Sends all len bytes, looping because send() may take fewer. MSG_NOSIGNAL: a server that
 * has gone makes send() fail with EPIPE instead of killing us by SIGPIPE. Returns 0, or -1
 * with errno set. */
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

/* Reads the server's next line into line (LINE_MAX_LEN bytes), without its newline, and
 * returns its length. A reply may arrive in pieces, so we keep reading until its newline;
 * bytes after it stay in server->pending for the next call. Returns -1 if no whole line
 * comes: errno is 0 if the server closed first, EMSGSIZE for a line longer than the
 * buffer, or the error recv() reported. */
static ssize_t recv_line(struct server_conn *server, char *line)
{
    for (;;) {
        char *newline = memchr(server->pending, '\n', server->pending_len);
        if (newline != NULL) {
            size_t len = (size_t)(newline - server->pending);
            memcpy(line, server->pending, len);
            line[len] = '\0';
            server->pending_len -= len + 1;
            memmove(server->pending, newline + 1, server->pending_len);
            return (ssize_t)len;
        }
        if (server->pending_len == sizeof server->pending) {
            errno = EMSGSIZE;
            return -1;
        }
        ssize_t got = recv(server->fd, server->pending + server->pending_len,
                           sizeof server->pending - server->pending_len, 0);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1)
            return -1;
        if (got == 0) {
            errno = 0;
            return -1;
        }
        server->pending_len += (size_t)got;
    }
}

/* Reads one line from the server and prints it. Says why and returns false if it does not
 * come whole. */
static bool print_reply(struct server_conn *server)
{
    char reply[LINE_MAX_LEN];
    if (recv_line(server, reply) == -1) {
        if (errno == 0)
            warn("the server closed the connection before its reply was complete");
        else if (errno == EMSGSIZE)
            warn("the server sent a line longer than %d bytes", LINE_MAX_LEN - 1);
        else
            warn_errno("receive");
        return false;
    }
    printf("%s\n", reply);
    return true;
}

/* Step 5: the conversation. Print the welcome; then for each line of input: send it, wait
 * for its reply line and print it; stop after "exit". Waiting for each reply before sending
 * the next line keeps the output in order: every reply printed belongs to the line just
 * sent. Returns false (after saying why) if the conversation broke off. */
static bool converse(int fd)
{
    struct server_conn server = {.fd = fd};
    if (!print_reply(&server))
        return false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool ok = true;
    while ((len = getline(&line, &cap, stdin)) != -1) {
        if (line[len - 1] != '\n') {
            line[len] = '\n';
            len++;
        }
        if (send_all(fd, line, (size_t)len) == -1) {
            warn_errno("send");
            ok = false;
            break;
        }
        if (!print_reply(&server)) {
            ok = false;
            break;
        }
        if (len == 5 && memcmp(line, "exit\n", 5) == 0)
            break;
    }
    if (ok && ferror(stdin)) {
        warn("cannot read standard input");
        ok = false;
    }
    free(line);
    return ok;
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Send each line of standard input to the lab 05 server as a name; print "
                   "the replies.",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9005",
    };
    cli_parse(&cli, argc, argv);

    int fd = connect_to_server(cli.host, cli.port);
    bool ok = converse(fd);
    close(fd);
    return ok ? 0 : 1;
}
