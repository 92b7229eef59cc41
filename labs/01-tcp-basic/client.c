/* Lab 01 client: connect to the greeting server, say who we are, print the answer.
 *
 * The life of a TCP client:
 *   getaddrinfo  turns "-H 127.0.0.1 -p 9001" into addresses we can connect to
 *   socket       makes an endpoint
 *   connect      the three-way handshake; the OS also picks our own (ephemeral) port here
 *   send, recv   the conversation
 *   close        we are done */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
    NAME_MAX_LEN = 32,    /* the server's limit; we check before we send */
    REPLY_MAX_LEN = 1024, /* more than any greeting needs */
};

struct options {
    const char *name;
};

/* Step 5: a socket connected to host:port. Exits with a message if no address answers. */
static int connect_to_server(const char *host, const char *port)
{
    /* TODO step 5: see step 5 in README.md. */
    todo(5, "connect_to_server(\"%s\", \"%s\")", host, port);
}

/* Step 6: both ends of the connection. Ours (getsockname) has the port the OS picked for us
 * in connect(); the server logs that same address as its peer (getpeername). */
static void print_addresses(int fd)
{
    /* TODO step 6: see step 6 in README.md. */
    todo(6, "print_addresses(%d)", fd);
}

/* Sends all len bytes. send() may take fewer bytes than offered; we loop until every
 * byte is gone (lab 03 shows when that happens). */
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

/* Step 7: read until the server closes the connection (recv() returns 0). One recv() is
 * not one message: the reply may come in several pieces (lab 02 is all about this).
 * Returns the reply's length; it is NUL-terminated. */
static size_t recv_until_closed(int fd, char *reply, size_t cap)
{
    /* TODO step 7: see step 7 in README.md. */
    todo(7, "recv_until_closed(%d, ..., %zu)", fd, cap);
}

static bool on_option(void *ctx, int key, const char *value)
{
    struct options *opts = ctx;
    size_t len = strlen(value);
    if (key != 'n' || len == 0 || len > NAME_MAX_LEN || strchr(value, '\n') != NULL)
        return false;
    opts->name = value;
    return true;
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'n', "name", "NAME", "the name to be greeted by, 1 to 32 characters (default student)"},
        {0},
    };
    struct options opts = {.name = "student"};
    struct cli cli = {
        .summary = "Connect to the lab 01 server, send a name, print the greeting.",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9001",
        .options = extra,
        .on_option = on_option,
        .ctx = &opts,
    };
    cli_parse(&cli, argc, argv);

    int fd = connect_to_server(cli.host, cli.port);
    print_addresses(fd);

    char line[NAME_MAX_LEN + 2];
    int len = snprintf(line, sizeof line, "%s\n", opts.name);
    send_all(fd, line, (size_t)len);

    char reply[REPLY_MAX_LEN];
    size_t reply_len = recv_until_closed(fd, reply, sizeof reply);
    if (reply_len > 0 && reply[reply_len - 1] == '\n')
        reply[reply_len - 1] = '\0'; /* we print our own newline */
    printf("server says: %s\n", reply);
    close(fd);
    return 0;
}
