/* Lab 05 server: greet TCP clients by name, each client in a thread of its own.
 *
 * The conversation: the server welcomes a client ("Welcome! You are HOST:PORT. ..."), then
 * answers every line NAME the client sends with "Hello, NAME!", until the client sends
 * "exit" (answered "Bye!") or closes. It runs until SIGTERM or Ctrl-C.
 *
 * An iterative server (lab 04) talks to one client at a time: while it waits for that
 * client's next line, everyone else waits in the listen queue. Here the main thread only
 * accepts; each connection gets a thread that runs the whole conversation, so a slow or
 * silent client holds up nobody but itself.
 *
 *   main thread          accept, then start a thread with the connection's own context
 *   client thread        the conversation; then it closes its socket and frees its context
 *   on SIGTERM           main stops accepting, shuts every open connection down, waits
 *                        until the last client thread has finished, frees, exits 0 */
#include "socklab.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    NAME_MAX_LEN = 32,  /* longest name we greet, in bytes */
    LINE_MAX_LEN = 256, /* longest line we read, newline included */
    BACKLOG = 64,       /* connections the kernel may hold for us before we accept them */
};

/* What every thread shares: the connections that are still open, and how many client
 * threads are still running. The mutex guards all of it. */
struct server {
    pthread_mutex_t lock;
    pthread_cond_t all_done; /* signalled when running drops to 0 */
    struct client *open;     /* every open connection, so that a stop can shut them down */
    size_t running;          /* client threads that have not finished yet */
};

/* One connection: made by the main thread for exactly one client thread, which owns it
 * from then on. Nothing in it is shared with another client, so no two threads ever read
 * or write the same bytes (only prev/next belong to the list, under the server's lock). */
struct client {
    int fd;
    char peer[ADDR_TEXT_LEN];
    struct server *server;
    struct client *prev, *next; /* in server->open */
    char pending[LINE_MAX_LEN]; /* bytes received but not used yet: the next line(s) */
    size_t pending_len;
    bool skipping; /* the line coming in is too long: dropping it to its end */
};

/* pthread functions return an error number instead of setting errno. These cannot fail in a
 * correct program, so a failure is a bug worth stopping for. */
static void check_pthread(int rc, const char *what)
{
    if (rc != 0) {
        errno = rc;
        die_errno("%s", what);
    }
}

static void lock(struct server *server)
{
    check_pthread(pthread_mutex_lock(&server->lock), "pthread_mutex_lock");
}

static void unlock(struct server *server)
{
    check_pthread(pthread_mutex_unlock(&server->lock), "pthread_mutex_unlock");
}

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
        int on = 1; /* a restarted server may bind at once (lab 01) */
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

/* Sends all len bytes, looping because send() may take fewer. MSG_NOSIGNAL: a vanished
 * client makes send() fail with EPIPE instead of raising SIGPIPE, which would kill the
 * whole server, every other client's thread included. */
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

/* Reads the client's next line into line (LINE_MAX_LEN bytes), without its newline, and
 * returns its length. A line may arrive in pieces, and one recv() may bring several lines:
 * what follows the newline waits in client->pending for the next call (lab 04).
 * Returns -1 with errno EMSGSIZE for a line too long for the buffer (read to its end and
 * dropped: the next call reads the line after it); -1 with errno 0 at the end of the
 * stream; -1 with the error recv() reported.
 *
 * A plain blocking recv(), not wait_readable(): SIGTERM and SIGINT stay blocked in client
 * threads, so that the main thread (waiting in wait_readable) is the one that takes them.
 * When the server stops, shutdown() ends this recv() instead (see stop_clients). */
static ssize_t recv_line(struct client *client, char *line)
{
    for (;;) {
        char *newline = memchr(client->pending, '\n', client->pending_len);
        if (newline != NULL) {
            size_t len = (size_t)(newline - client->pending);
            bool whole = !client->skipping;
            if (whole) {
                memcpy(line, client->pending, len);
                line[len] = '\0';
            }
            client->pending_len -= len + 1;
            memmove(client->pending, newline + 1, client->pending_len);
            client->skipping = false;
            if (!whole)
                errno = EMSGSIZE;
            return whole ? (ssize_t)len : -1;
        }
        if (client->pending_len == sizeof client->pending) {
            client->skipping = true; /* a full buffer and no newline: drop it, read on */
            client->pending_len = 0;
        }
        ssize_t got = recv(client->fd, client->pending + client->pending_len,
                           sizeof client->pending - client->pending_len, 0);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1)
            return -1;
        if (got == 0) {
            errno = 0; /* the client closed (an unfinished last line is dropped) */
            return -1;
        }
        client->pending_len += (size_t)got;
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

/* Step 2: the conversation with one client, in its own thread. Everything it touches is
 * its own: the client's context, and the buffers on this thread's stack. */
static void converse(struct client *client)
{
    char text[LINE_MAX_LEN + 64];
    char name[LINE_MAX_LEN];
    int n = snprintf(text, sizeof text,
                     "Welcome! You are %s. Send a name per line, exit to leave.\n", client->peer);
    if (send_all(client->fd, text, (size_t)n) == -1) {
        warn_errno("send to %s", client->peer);
        return;
    }
    for (;;) {
        ssize_t len = recv_line(client, name);
        if (len == -1 && errno == EMSGSIZE) {
            printf("rejected a bad name from %s\n", client->peer);
            n = snprintf(text, sizeof text, "error: a name is 1 to %d printable characters\n",
                         NAME_MAX_LEN);
        } else if (len == -1) {
            if (errno != 0)
                warn_errno("receive from %s", client->peer);
            return;
        } else {
            if (len > 0 && name[len - 1] == '\r')
                name[--len] = '\0';
            if (strcmp(name, "exit") == 0) {
                if (send_all(client->fd, "Bye!\n", 5) == -1)
                    warn_errno("send to %s", client->peer);
                return;
            }
            if (valid_name(name, (size_t)len)) {
                printf("greeted %s at %s\n", name, client->peer);
                n = snprintf(text, sizeof text, "Hello, %s!\n", name);
            } else {
                printf("rejected a bad name from %s\n", client->peer);
                n = snprintf(text, sizeof text, "error: a name is 1 to %d printable characters\n",
                             NAME_MAX_LEN);
            }
        }
        if (send_all(client->fd, text, (size_t)n) == -1) {
            warn_errno("send to %s", client->peer);
            return;
        }
    }
}

/* Adds a new connection to the list of open ones, and counts its thread as running. */
static void add_client(struct server *server, struct client *client)
{
    lock(server);
    client->prev = NULL;
    client->next = server->open;
    if (server->open != NULL)
        server->open->prev = client;
    server->open = client;
    server->running++;
    unlock(server);
}

/* Takes a connection out of the list of open ones. Its thread still counts as running. */
static void remove_client(struct server *server, struct client *client)
{
    lock(server);
    if (client->prev != NULL)
        client->prev->next = client->next;
    else
        server->open = client->next;
    if (client->next != NULL)
        client->next->prev = client->prev;
    unlock(server);
}

/* Step 3: the end of a client thread. The order matters:
 *  1. leave the list of open connections first: from then on stop_clients() no longer
 *     touches this socket, so closing it cannot race with a shutdown() of the same number;
 *  2. close and free: this thread's own things, no lock needed;
 *  3. last, count this thread out, and wake the main thread if it was the last one. After
 *     that the thread touches nothing of the server's: main may destroy it all and exit. */
static void finish_client(struct client *client)
{
    struct server *server = client->server;
    remove_client(server, client);
    if (close(client->fd) == -1)
        warn_errno("close");
    printf("connection from %s closed\n", client->peer);
    free(client);
    lock(server);
    server->running--;
    if (server->running == 0)
        check_pthread(pthread_cond_signal(&server->all_done), "pthread_cond_signal");
    unlock(server);
}

/* The function every client thread runs, from start to end. */
static void *client_thread(void *arg)
{
    struct client *client = arg;
    converse(client);
    finish_client(client);
    return NULL;
}

/* Step 1: a thread for a new connection, with a context of its own on the heap. Not
 * &fd or a variable of the accept loop: the loop overwrites those with the next client
 * before the new thread may even have started. The thread is detached: no one will
 * pthread_join() it, so the system frees its stack (8 MiB) as soon as it ends. */
static void start_client_thread(struct server *server, int fd, const char *peer)
{
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        warn_errno("no memory for %s", peer);
        close(fd);
        return;
    }
    client->fd = fd;
    client->server = server;
    snprintf(client->peer, sizeof client->peer, "%s", peer);
    add_client(server, client);
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, client_thread, client);
    if (rc != 0) {
        errno = rc;
        warn_errno("cannot start a thread for %s", peer);
        finish_client(client);
        return;
    }
}

/* The connection loop of the main thread: accept, hand over to a thread, accept again. */
static void accept_clients(struct server *server, int listener)
{
    for (;;) {
        enum wait_result ready = wait_readable(listener, -1);
        if (ready == WAIT_STOPPED)
            return; /* SIGTERM or SIGINT */
        if (ready == WAIT_ERROR)
            die_errno("poll");
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept(listener, (struct sockaddr *)&peer, &peer_len);
        if (fd == -1) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue; /* a client that gave up before we got to it */
            die_errno("accept");
        }
        char peer_text[ADDR_TEXT_LEN];
        addr_to_text((struct sockaddr *)&peer, peer_len, peer_text);
        printf("connection from %s\n", peer_text);
        start_client_thread(server, fd, peer_text);
    }
}

/* Step 4: end every conversation, and wait until every client thread has finished.
 * shutdown(SHUT_RDWR) wakes a thread blocked in recv() (which then returns 0, the end of the
 * stream) or in send() (EPIPE); the thread then finishes as if its client had left, and
 * closes the socket itself. pthread_cond_wait() releases the lock while it sleeps, so the
 * threads can take it to count themselves out. */
static void stop_clients(struct server *server)
{
    lock(server);
    for (struct client *client = server->open; client != NULL; client = client->next) {
        if (shutdown(client->fd, SHUT_RDWR) == -1 && errno != ENOTCONN)
            warn_errno("shutdown %s", client->peer);
    }
    while (server->running > 0)
        check_pthread(pthread_cond_wait(&server->all_done, &server->lock), "pthread_cond_wait");
    unlock(server);
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Greet TCP clients by name, each in a thread of its own, until SIGTERM or "
                   "Ctrl-C.",
        .host_help = "address to listen on",
        .default_host = "127.0.0.1",
        .port_help = "port to listen on; 0 lets the OS choose",
        .default_port = "9005",
        .port_may_be_zero = true,
    };
    cli_parse(&cli, argc, argv);
    stop_on_signals(); /* before any thread exists: they all inherit the blocked signals */

    struct server server = {.open = NULL, .running = 0};
    check_pthread(pthread_mutex_init(&server.lock, NULL), "pthread_mutex_init");
    check_pthread(pthread_cond_init(&server.all_done, NULL), "pthread_cond_init");

    int listener = open_listener(cli.host, cli.port);
    print_listening_address(listener);
    accept_clients(&server, listener);
    close(listener); /* no new clients from here on */
    stop_clients(&server);

    check_pthread(pthread_cond_destroy(&server.all_done), "pthread_cond_destroy");
    check_pthread(pthread_mutex_destroy(&server.lock), "pthread_mutex_destroy");
    printf("stopped\n");
    return 0;
}
