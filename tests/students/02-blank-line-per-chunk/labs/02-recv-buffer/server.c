/* Lab 02 server: send every client the same payload, then end the connection.
 *
 * The payload is a text (-m), N bytes of a known pattern (-n), or the bytes of a file (-f).
 * The server sends it and ends its side of the connection: that is how the client learns that
 * the payload is over, because its recv() then returns 0. Clients are served one after
 * another until SIGTERM or Ctrl-C.
 *
 * The server is the easy half of this lab. The lesson is in the client: however the server
 * sends, the client's recv() returns whatever has arrived so far, at most a buffer full. */
#include "socklab.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum {
    BACKLOG = 16,             /* connections the kernel may hold for us before we accept them */
    CHUNK_SIZE = 65536,       /* the payload leaves in pieces of at most this many bytes */
    SEND_PATIENCE_MS = 200,   /* how long one send() may block before we look for a stop */
    DRAIN_PATIENCE_MS = 5000, /* how long we wait for a client to close after the payload */
    DRAIN_LIMIT = 1 << 20     /* how many bytes of a client's request we read and discard */
};

/* -n: byte i of the pattern is PATTERN[i % 64]: lines of 63 characters and a newline, so
 * that a missing or repeated piece shows at a glance. */
static const char PATTERN[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+\n";
enum { PATTERN_LEN = sizeof PATTERN - 1 };

static const char DEFAULT_TEXT[] = "TCP delivers a stream of bytes, not messages.\n";

enum payload_kind { PAYLOAD_TEXT, PAYLOAD_PATTERN, PAYLOAD_FILE };

struct payload {
    enum payload_kind kind;
    int choices;      /* how many of -m, -n, -f were given (at most one is allowed) */
    const char *text; /* -m */
    const char *path; /* -f */
    int file;         /* -f: the open file; the server reads it afresh for every client */
    size_t size;      /* the payload's length in bytes */
};

/* A socket listening on host:port (lab 01). Exits with a message if there is none. */
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
        int on = 1;
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

/* Prints "listening on HOST:PORT" with the port the OS chose for -p 0 (lab 01). */
static void print_listening_address(int listener)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(listener, (struct sockaddr *)&local, &len) == -1)
        die_errno("getsockname");
    char text[ADDR_TEXT_LEN];
    printf("listening on %s\n", addr_to_text((struct sockaddr *)&local, len, text));
}

/* -f: open the file once, at start, so that a wrong path is reported before any client
 * comes. Each client's copy is read with pread(), from offset 0, so clients never share a
 * file position. */
static void open_payload_file(struct payload *payload)
{
    payload->file = open(payload->path, O_RDONLY);
    if (payload->file == -1)
        die_errno("cannot open %s", payload->path);
    struct stat st;
    if (fstat(payload->file, &st) == -1)
        die_errno("cannot read %s", payload->path);
    if (!S_ISREG(st.st_mode))
        die("cannot send %s: not a regular file", payload->path);
    payload->size = (size_t)st.st_size;
}

static void print_payload(const struct payload *payload)
{
    if (payload->kind == PAYLOAD_FILE)
        printf("payload: %zu bytes (file %s)\n", payload->size, payload->path);
    else
        printf("payload: %zu bytes (%s)\n", payload->size,
               payload->kind == PAYLOAD_TEXT ? "text" : "pattern");
}

/* Copies the payload's bytes from offset on into chunk, at most cap of them. Returns how many
 * (0: the payload is over), or -1 if the file cannot be read (errno says why). */
static ssize_t fill_chunk(const struct payload *payload, size_t offset, char *chunk, size_t cap)
{
    size_t left = offset < payload->size ? payload->size - offset : 0;
    size_t len = left < cap ? left : cap;
    switch (payload->kind) {
    case PAYLOAD_TEXT:
        memcpy(chunk, payload->text + offset, len);
        return (ssize_t)len;
    case PAYLOAD_PATTERN:
        for (size_t i = 0; i < len; i++)
            chunk[i] = PATTERN[(offset + i) % PATTERN_LEN];
        return (ssize_t)len;
    case PAYLOAD_FILE:
        /* Like recv(), read() and pread() may return fewer bytes than asked for. That is
         * fine: we send what we got and ask for the rest next time. 0 means the file ended
         * (it may have shrunk since we started: then the client gets what there is). */
        for (;;) {
            ssize_t got = pread(payload->file, chunk, cap, (off_t)offset);
            if (got != -1 || errno != EINTR)
                return got;
        }
    }
    return 0;
}

/* Sends all len bytes: send() may take fewer bytes than offered, so we loop until every byte
 * is gone. MSG_NOSIGNAL: a client that has gone makes send() fail with EPIPE instead of
 * raising SIGPIPE, which would kill the whole server.
 *
 * A client that stops reading fills the connection's buffers, and then send() waits. A
 * waiting send() does not see SIGTERM (stop_on_signals() lets the signal in only inside
 * wait_readable()), so each connection has a send timeout (limit_send_wait()): send() returns
 * after SEND_PATIENCE_MS at most (with what it could send, or -1 and EAGAIN), and before each
 * send() wait_readable(fd, 0) lets a pending stop in and tells us about it, without waiting.
 * Returns 0, or -1 with errno set (ECANCELED: the server is stopping). */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        if (wait_readable(fd, 0) == WAIT_STOPPED) {
            errno = ECANCELED;
            return -1;
        }
        ssize_t sent = send(fd, buf, len, MSG_NOSIGNAL);
        if (sent == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue; /* the timeout passed, or a signal came: look for a stop, try again */
        if (sent == -1)
            return -1;
        buf += sent;
        len -= (size_t)sent;
    }
    return 0;
}

/* See send_all(): a send() on this connection waits at most SEND_PATIENCE_MS at a time. */
static void limit_send_wait(int conn)
{
    struct timeval patience = {.tv_sec = 0, .tv_usec = SEND_PATIENCE_MS * 1000};
    if (setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience) == -1)
        warn_errno("setsockopt SO_SNDTIMEO"); /* only a stop would be slower: go on */
}

/* Step 2: send the whole payload to one client, a chunk at a time, counting the bytes in
 * *sent. Returns true if every byte was handed to the kernel; otherwise says why (unless the
 * server is stopping) and returns false. */
static bool send_payload(int conn, const struct payload *payload, const char *peer, size_t *sent)
{
    char chunk[CHUNK_SIZE];
    *sent = 0;
    for (;;) {
        ssize_t len = fill_chunk(payload, *sent, chunk, sizeof chunk);
        if (len == -1) {
            warn_errno("read %s", payload->path);
            return false;
        }
        if (len == 0)
            return true;
        if (send_all(conn, chunk, (size_t)len) == -1) {
            if (errno != ECANCELED)
                warn_errno("send to %s after %zu bytes", peer, *sent);
            return false;
        }
        *sent += (size_t)len;
    }
}

/* Milliseconds on a clock that never jumps, for the drain's time limit. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* After the payload: end our side of the connection without throwing any of it away.
 *
 * close() alone is not enough when the client sent us something (an HTTP client sends a
 * request): closing a socket with unread bytes makes Linux answer with a reset (RST) instead
 * of an ordinary end, and a reset also discards whatever of the payload is still waiting to
 * leave. So: shutdown(SHUT_WR) first, which sends the end of the stream after the last byte
 * while we can still read; then read and discard what the client sends until it closes its
 * side (recv() returns 0), for at most DRAIN_PATIENCE_MS and DRAIN_LIMIT bytes; the caller
 * then closes, with nothing unread.
 *
 * A client closes after reading our end of the stream, so only then do we know that it has
 * everything, and only then do we say "sent". */
static void end_payload(int conn, size_t sent, const char *peer)
{
    if (shutdown(conn, SHUT_WR) == -1) {
        warn_errno("send to %s after %zu bytes", peer, sent);
        return;
    }
    char scrap[4096];
    size_t drained = 0;
    long long give_up = now_ms() + DRAIN_PATIENCE_MS;
    while (drained < DRAIN_LIMIT) {
        long long left = give_up - now_ms();
        enum wait_result ready = wait_readable(conn, left > 0 ? (int)left : 0);
        if (ready == WAIT_STOPPED)
            return; /* SIGTERM or SIGINT: the server is stopping */
        if (ready == WAIT_TIMEOUT)
            break; /* patience is over */
        if (ready == WAIT_ERROR) {
            warn_errno("poll");
            return;
        }
        ssize_t got = recv(conn, scrap, sizeof scrap, 0);
        if (got == 0) {
            printf("sent %zu bytes to %s\n", sent, peer);
            return;
        }
        if (got == -1 && errno != EINTR) {
            warn_errno("%s may not have all %zu bytes", peer, sent); /* a reset, usually */
            return;
        }
        if (got > 0)
            drained += (size_t)got;
    }
    /* After a timeout, all the client sent has been read, so our close() is an ordinary end,
     * not a reset. (A client that sends more than DRAIN_LIMIT may get a reset: its doing.) */
    if (drained >= DRAIN_LIMIT)
        warn("%s sent more than %d bytes after the payload; closing", peer, DRAIN_LIMIT);
    else
        warn("%s did not close within %d s of the end of the payload; closing", peer,
             DRAIN_PATIENCE_MS / 1000);
}

/* Step 1: the connection loop. Each client gets the payload, then the end of the stream
 * (end_payload()), which is what tells the client the payload is over (its recv() returns 0).
 * Then we close its socket, whatever happened: every accepted socket is closed. */
static void serve(int listener, const struct payload *payload)
{
    for (;;) {
        enum wait_result ready = wait_readable(listener, -1);
        if (ready == WAIT_STOPPED)
            return;
        if (ready == WAIT_ERROR)
            die_errno("poll");
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof addr;
        int conn = accept(listener, (struct sockaddr *)&addr, &addr_len);
        if (conn == -1) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            die_errno("accept");
        }
        char peer[ADDR_TEXT_LEN];
        addr_to_text((struct sockaddr *)&addr, addr_len, peer);
        printf("connection from %s\n", peer);
        limit_send_wait(conn);
        size_t sent = 0;
        if (send_payload(conn, payload, peer, &sent))
            end_payload(conn, sent, peer);
        close(conn);
    }
}

/* -m, -n and -f each choose the payload; only one of them may be given. */
static bool on_option(void *ctx, int key, const char *value)
{
    struct payload *payload = ctx;
    if (++payload->choices > 1) {
        warn("choose one payload: -m TEXT, -n BYTES or -f FILE");
        return false;
    }
    switch (key) {
    case 'm':
        payload->kind = PAYLOAD_TEXT;
        payload->text = value;
        payload->size = strlen(value);
        return true;
    case 'n':
        payload->kind = PAYLOAD_PATTERN;
        return parse_size(value, 0, SIZE_MAX, &payload->size);
    case 'f':
        payload->kind = PAYLOAD_FILE;
        payload->path = value;
        return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'m', "message", "TEXT", "send this text (default: a sentence about TCP)"},
        {'n', "bytes", "BYTES", "send BYTES bytes of a known pattern (lines of 0-9a-zA-Z+)"},
        {'f', "file", "FILE", "send the bytes of FILE"},
        {0},
    };
    struct payload payload = {
        .kind = PAYLOAD_TEXT,
        .text = DEFAULT_TEXT,
        .size = sizeof DEFAULT_TEXT - 1,
        .file = -1,
    };
    struct cli cli = {
        .summary = "Send each TCP client a payload, then close; one client after another, "
                   "until SIGTERM or Ctrl-C.",
        .host_help = "address to listen on",
        .default_host = "127.0.0.1",
        .port_help = "port to listen on; 0 lets the OS choose",
        .default_port = "9002",
        .port_may_be_zero = true,
        .options = extra,
        .on_option = on_option,
        .ctx = &payload,
    };
    cli_parse(&cli, argc, argv);
    stop_on_signals();
    if (payload.kind == PAYLOAD_FILE)
        open_payload_file(&payload);

    int listener = open_listener(cli.host, cli.port);
    print_listening_address(listener);
    print_payload(&payload);
    serve(listener, &payload);
    close(listener);
    if (payload.file != -1)
        close(payload.file);
    printf("stopped\n");
    return 0;
}
