/* Lab 01 server: greet TCP clients by name, one client at a time.
 *
 * The conversation: a client connects and sends its name and a newline; the server answers
 * "Hello NAME, you are HOST:PORT" and closes the connection, then waits for the next client.
 * It runs until SIGTERM or Ctrl-C.
 *
 * The life of a TCP server, one call at a time:
 *   getaddrinfo  turns "-H 127.0.0.1 -p 9001" into addresses we can bind to
 *   socket       makes an endpoint, not yet tied to any address
 *   setsockopt   SO_REUSEADDR: a restarted server may bind at once (see open_listener)
 *   bind         claims the address and port
 *   listen       lets the kernel complete connections for us, queued until we accept
 *   accept       takes the next connection: a new socket that talks to that one client */
#include "socklab.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
    NAME_MAX_LEN = 32, /* longest name we accept, in bytes */
    BACKLOG = 16,      /* connections the kernel may hold for us before we accept them */
};

/* Step 1: a socket listening on host:port. Exits with a message if there is none. */
static int open_listener(const char *host, const char *port)
{
    /* TODO step 1: see step 1 in README.md. */
    todo(1, "open_listener(\"%s\", \"%s\")", host, port);
}

/* Step 2: with -p 0 the OS chose the port; getsockname() tells us which one it was. */
static void print_listening_address(int listener)
{
    /* TODO step 2: see step 2 in README.md. */
    todo(2, "print_listening_address(%d)", listener);
}

/* Sends all len bytes. send() may take fewer bytes than offered, so we loop until every
 * byte is gone. MSG_NOSIGNAL: a client that has vanished makes send() fail with EPIPE,
 * instead of raising SIGPIPE, which would kill the whole server. */
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

/* Reads one line: until a newline or the end of the stream. TCP delivers bytes, not
 * messages, so the name may arrive in several pieces: we keep reading until we see its end.
 * Stores at most cap - 1 bytes and a NUL, without the newline. Returns the length, or -1 with
 * errno set: EMSGSIZE for a line that does not fit, ECANCELED if the server is stopping. */
static ssize_t recv_line(int fd, char *line, size_t cap)
{
    size_t len = 0;
    for (;;) {
        enum wait_result ready = wait_readable(fd, -1);
        if (ready == WAIT_STOPPED)
            errno = ECANCELED;
        if (ready != WAIT_READABLE)
            return -1;
        ssize_t got = recv(fd, line + len, cap - 1 - len, 0);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1)
            return -1;
        char *newline = memchr(line + len, '\n', (size_t)got);
        len += (size_t)got;
        if (newline != NULL || got == 0) { /* end of line, or the client stopped sending */
            len = newline != NULL ? (size_t)(newline - line) : len;
            line[len] = '\0';
            return (ssize_t)len;
        }
        if (len == cap - 1) {
            errno = EMSGSIZE;
            return -1;
        }
    }
}

static bool valid_name(const char *name, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isprint((unsigned char)name[i]))
            return false;
    return true;
}

/* Step 4: read the client's name, answer it. Problems with this one client are reported
 * and the server goes on: a client must never be able to stop the server. */
static void greet(int conn, const char *peer)
{
    /* TODO step 4: see step 4 in README.md. */
    todo(4, "greet(%d, \"%s\")", conn, peer);
}

/* Step 3: the connection loop. accept() gives a new socket for each client; the listening
 * socket stays open for the next one. */
static void serve(int listener)
{
    /* TODO step 3: see step 3 in README.md. */
    todo(3, "serve(%d)", listener);
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Greet TCP clients by name, one at a time, until SIGTERM or Ctrl-C.",
        .host_help = "address to listen on",
        .default_host = "127.0.0.1",
        .port_help = "port to listen on; 0 lets the OS choose",
        .default_port = "9001",
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
