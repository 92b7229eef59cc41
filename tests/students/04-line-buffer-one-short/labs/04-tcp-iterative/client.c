/* Lab 04 client: send the lines you type to the numbering server and print its answers.
 *
 * The conversation, seen from here: connect, print the server's welcome, then for each line
 * of standard input send it and print the answer. "exit" ends the session (the server says
 * "bye" and closes); so does the end of input (Ctrl-D), after which we tell the server we
 * are done sending and print whatever it still has to say until it closes.
 *
 * The client's communication loop goes in lock-step: one line out, one answer in. It waits
 * for each answer before reading the next line, so the answers come out in order, and none
 * is lost when the input ends. */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    /* The longest line the server sends: a number, ": ", and a line of at most 256 bytes. */
    MAX_REPLY_LEN = 24 + 256,
};

/* What read_line() has received from the server and not yet handed out. */
struct line_reader {
    int fd;
    char buf[MAX_REPLY_LEN + 1]; /* room for the longest line and its newline */
    size_t len;                  /* bytes in buf */
    size_t used;                 /* of them, the bytes of the line handed out last time */
};

/* A socket connected to host:port (lab 01). Exits with a message if no address answers. */
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
            errno = connect_errno; /* keep connect's reason for the message below */
        }
    }
    freeaddrinfo(addrs);
    if (fd == -1)
        die_errno("cannot connect to %s port %s", host, port);
    return fd;
}

/* "connected to SERVER". Printed as soon as connect() returns: before the welcome, which a
 * busy server sends only when our turn comes. */
static void print_connected(int fd)
{
    struct sockaddr_storage server;
    socklen_t len = sizeof server;
    if (getpeername(fd, (struct sockaddr *)&server, &len) == -1)
        die_errno("getpeername");
    char text[ADDR_TEXT_LEN];
    printf("connected to %s\n", addr_to_text((struct sockaddr *)&server, len, text));
}

/* Sends all len bytes: send() may take fewer than offered. */
static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t sent = send(fd, buf, len, MSG_NOSIGNAL);
        if (sent == -1 && errno == EINTR)
            continue;
        if (sent == -1)
            die_errno("send");
        buf += sent;
        len -= (size_t)sent;
    }
}

/* Step 5: the next line from the server, NUL-terminated, without its newline, in *line
 * (valid until the next call). Returns false when the server has closed the connection. The
 * same idea as the server's read_line: the bytes after the newline wait in r->buf for the
 * next call. The server's lines have a known maximum, so a longer one is an error here. */
static bool read_line(struct line_reader *r, char **line)
{
    memmove(r->buf, r->buf + r->used, r->len - r->used);
    r->len -= r->used;
    r->used = 0;
    for (;;) {
        char *newline = memchr(r->buf, '\n', r->len);
        if (newline != NULL) {
            *newline = '\0';
            *line = r->buf;
            r->used = (size_t)(newline - r->buf) + 1;
            return true;
        }
        if (r->len == sizeof r->buf)
            die("the server sent a line longer than %d bytes", MAX_REPLY_LEN);
        ssize_t got = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1)
            die_errno("receive");
        if (got == 0)
            return false;
        r->len += (size_t)got;
    }
}

/* Prints the next line from the server. False (with a message) if the server has closed
 * the connection instead. */
static bool print_answer(struct line_reader *from_server)
{
    char *answer;
    if (!read_line(from_server, &answer)) {
        warn("the server closed the connection");
        return false;
    }
    printf("%s\n", answer);
    return true;
}

/* Prints every line the server still sends, until it closes the connection. */
static void print_until_closed(struct line_reader *from_server)
{
    char *answer;
    while (read_line(from_server, &answer))
        printf("%s\n", answer);
}

/* True for the line "exit", with or without its newline. */
static bool is_exit(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    return len == 4 && memcmp(line, "exit", 4) == 0;
}

/* Step 4: the client's communication loop: the welcome, then one line out, one answer in,
 * until "exit" or the end of input. Returns false if the server closed the connection
 * before it answered. */
static bool talk(int fd)
{
    struct line_reader from_server = {.fd = fd};
    if (!print_answer(&from_server))
        return false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) != -1) {
        bool leaving = is_exit(line, (size_t)len);
        if (line[len - 1] != '\n') {
            line[len] = '\n';
            len++;
        }
        send_all(fd, line, (size_t)len);
        if (leaving)
            break;
        if (!print_answer(&from_server)) {
            free(line);
            return false;
        }
    }
    if (ferror(stdin))
        die_errno("read standard input");
    free(line);
    if (shutdown(fd, SHUT_WR) == -1)
        die_errno("shutdown");
    print_until_closed(&from_server);
    return true;
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Send lines from standard input to the lab 04 server, print its answers.",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9004",
    };
    cli_parse(&cli, argc, argv);

    int fd = connect_to_server(cli.host, cli.port);
    print_connected(fd);
    bool finished = talk(fd);
    close(fd);
    return finished ? 0 : 1;
}
