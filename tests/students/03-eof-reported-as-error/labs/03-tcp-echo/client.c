/* Lab 03 client: send each line typed on stdin to the echo server, print what comes back.
 *
 * For each line: drop its newline, send the rest, wait until exactly as many bytes have come
 * back (the server answers every byte with one byte), print them and a newline. An empty
 * line is skipped, and the line "exit" or the end of the input ends the client.
 *
 * Why count bytes? TCP has no messages, only a stream of bytes: the reply to "hello" may
 * arrive as "HEL" and then "LO", and nothing on the wire says "this is the end of the
 * reply". The client knows how long the reply must be, so it reads until it has that many. */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A socket connected to host:port (as in lab 01). Exits with a message if no address
 * answers. */
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

/* Step 5: sends all len bytes, looping because send() may take only part of them (the same
 * function as the server's). Returns 0, or -1 with errno set. */
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

/* Step 6: receives exactly len bytes, unless the server closes the connection first. Each
 * recv() returns what has arrived so far, so we ask again for what is still missing until we
 * have all of it. recv() returning 0 means the server has closed the connection: the rest
 * will never come, and asking again would return 0 forever. Returns how many bytes came (len,
 * or fewer if the server closed), or -1 with errno set. */
static ssize_t recv_exact(int fd, char *buf, size_t len)
{
    size_t have = 0;
    while (have < len) {
        ssize_t n = recv(fd, buf + have, len - have, 0);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        have += n;
    }
    return have;
}

/* Sends one line, waits for the whole reply, prints it. Returns false, after saying why on
 * stderr, if the conversation broke. */
static bool echo_line(int fd, const char *line, size_t len, char *reply)
{
    if (send_all(fd, line, len) == -1) {
        warn_errno("send");
        return false;
    }
    ssize_t got = recv_exact(fd, reply, len);
    if (got == -1) {
        warn_errno("receive");
        return false;
    }
    if ((size_t)got < len) {
        warn("the server closed the connection after %zd of the %zu bytes of the reply", got, len);
        return false;
    }
    fwrite(reply, 1, len, stdout);
    putchar('\n');
    return true;
}

/* Step 4: the communication loop, one line at a time, until "exit" or the end of the input.
 * Returns the exit status: 0, or 1 if something failed (already reported). */
static int chat(int fd)
{
    char *line = NULL;
    size_t line_cap = 0;
    char *reply = NULL;
    size_t reply_cap = 0;
    int status = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, stdin)) != -1) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (strcmp(line, "exit") == 0)
            break;
        if ((size_t)len > reply_cap) {
            char *bigger = realloc(reply, len);
            if (bigger == NULL)
                die("out of memory");
            reply = bigger;
            reply_cap = len;
        }
        if (!echo_line(fd, line, len, reply)) {
            status = 1;
            break;
        }
    }
    if (status == 0 && ferror(stdin)) {
        warn_errno("read the standard input");
        status = 1;
    }
    free(line);
    free(reply);
    return status;
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Send each line of the standard input to the lab 03 echo server and print "
                   "the reply; 'exit' or the end of the input quits.",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9003",
    };
    cli_parse(&cli, argc, argv);

    int fd = connect_to_server(cli.host, cli.port);
    int status = chat(fd);
    close(fd); /* the server sees the end of the stream: its recv() returns 0 */
    return status;
}
