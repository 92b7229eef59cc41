/* Lab 02 client: read everything a server sends, with a buffer of -b SIZE bytes, and show
 * what each recv() returned.
 *
 * The lesson in one sentence: recv() returns what has arrived, not a message. It waits until
 * there is at least one byte, then returns the bytes that are there, at most the buffer's size,
 * however the sender cut them up. So a program that wants "all of it" calls recv() again and
 * again until it returns 0, which means the other side has closed the connection.
 *
 * Modes:
 *   (default)  read until the server closes; report every recv() and the totals
 *   -1         call recv() once and stop, as the tutorials' buggy clients do
 *   -g PATH    fetch PATH from an HTTP server, split the header from the body, keep the body
 * The payload (or the HTTP body) goes to -o FILE, or to stdout with -o -. */
#include "socklab.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    DEFAULT_BUFFER = 1024,
    MAX_BUFFER = 16 << 20, /* 16 MiB: as big as a -b can sensibly get */
    HEADER_MAX = 16384,    /* an HTTP header longer than this is refused */
    PATH_MAX_LEN = 1024,   /* longest -g PATH */
    EXCERPT_LEN = 24,      /* bytes of each chunk shown in its report line */
};

struct options {
    size_t buffer_size;   /* -b: the most one recv() may return */
    bool once;            /* -1: a single recv() */
    bool quiet;           /* -q: totals only, no line per recv() */
    const char *output;   /* -o: where the payload goes; "-" is stdout; NULL: nowhere */
    const char *get_path; /* -g: fetch this path over HTTP */
};

/* Where the bytes go once they have been received. */
struct sink {
    FILE *report; /* the lines about what happened: stdout, or stderr with -o - */
    FILE *out;    /* the payload (HTTP: the body); NULL: only the report lines show it */
    const char *out_name;
    size_t payload_len;
    bool http; /* split an HTTP header off first */
    bool header_done;
    bool header_too_long; /* full, and no empty line yet: main() reports it */
    size_t header_len;
    char header[HEADER_MAX];
};

struct totals {
    size_t bytes; /* received in all */
    size_t reads; /* recv() calls that returned data */
    int error;    /* 0, or the errno of a recv() that failed */
};

/* A socket connected to host:port (lab 01); prints "connected to ADDRESS". Exits with a
 * message if no address answers. The address printed is the one connect() succeeded with,
 * not getpeername()'s: a server that resets at once would make getpeername() fail. */
static int connect_to_server(const char *host, const char *port, FILE *report)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *addrs;
    int rc = getaddrinfo(host, port, &hints, &addrs);
    if (rc != 0)
        die("cannot connect to %s port %s: %s", host, port, gai_strerror(rc));

    int fd = -1;
    char text[ADDR_TEXT_LEN];
    for (struct addrinfo *ai = addrs; ai != NULL && fd == -1; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
            int connect_errno = errno;
            close(fd);
            fd = -1;
            errno = connect_errno;
        }
        if (fd != -1)
            addr_to_text(ai->ai_addr, ai->ai_addrlen, text);
    }
    freeaddrinfo(addrs);
    if (fd == -1)
        die_errno("cannot connect to %s port %s", host, port);
    fprintf(report, "connected to %s\n", text);
    return fd;
}

/* Sends all len bytes, looping because send() may take fewer (lab 03 shows when). */
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

/* The line for one recv(): `recv 3: 7 bytes "ming in"`, showing the first EXCERPT_LEN bytes
 * of the chunk with C escapes (the chunk is bytes, not text: it may hold '\0' or '\n'); or
 * `recv 8: 0 bytes, end of stream` when recv() returned 0. */
static void report_chunk(FILE *report, size_t number, const char *chunk, size_t len)
{
    if (len == 0) {
        fprintf(report, "recv %zu: 0 bytes, end of stream\n", number);
        return;
    }
    fprintf(report, "recv %zu: %zu byte%s \"", number, len, len == 1 ? "" : "s");
    size_t shown = len < EXCERPT_LEN ? len : EXCERPT_LEN;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)chunk[i];
        if (c == '\n')
            fputs("\\n", report);
        else if (c == '\r')
            fputs("\\r", report);
        else if (c == '"' || c == '\\')
            fprintf(report, "\\%c", c);
        else if (isprint(c))
            fputc(c, report);
        else
            fprintf(report, "\\x%02x", c);
    }
    fprintf(report, "\"%s\n", shown < len ? "..." : "");
}

/* Step 3: one recv(), reported. It blocks until at least one byte has arrived (or the
 * server has closed), then returns what is there, at most size bytes: maybe less than the
 * server sent, maybe more than one of its send()s. Returns the number of bytes (0: the
 * server closed the connection, nothing more will ever come), or -1 with errno set. */
static ssize_t read_chunk(int fd, char *buf, size_t size, size_t number, FILE *report, bool quiet)
{
    ssize_t n;
    do {
        n = recv(fd, buf, size, 0);
    } while (n == -1 && errno == EINTR);
    if (n == -1)
        return -1;
    if (!quiet)
        report_chunk(report, number, buf, (size_t)n);
    return n;
}

/* Step 5: write a chunk of the payload out. A chunk is bytes, not a C string: it has no '\0'
 * at its end and may have some inside (a picture, a zip file), so its length is len, never
 * strlen(). */
static void write_payload(struct sink *sink, const char *data, size_t len)
{
    sink->payload_len += len;
    if (sink->out != NULL && fwrite(data, 1, len, sink->out) < len)
        die_errno("write %s", sink->out_name);
}

/* Prints the header, one "header: LINE" for each of its lines (without the "\r\n"). */
static void print_header(const struct sink *sink)
{
    const char *line = sink->header;
    const char *end = sink->header + sink->header_len - 4; /* before the final "\r\n\r\n" */
    while (line <= end) {
        const char *eol = line;
        while (eol < end && !(eol[0] == '\r' && eol[1] == '\n'))
            eol++;
        fprintf(sink->report, "header: %.*s\n", (int)(eol - line), line);
        line = eol + 2;
    }
}

/* Step 7: an HTTP response is a header, an empty line ("\r\n\r\n" ends the header), and the
 * body. The end of the header may arrive in any chunk, even split across two of them ("\r\n"
 * in one, "\r\n" in the next), so we watch for it byte by byte as the bytes come in, not
 * within each chunk. Keeps the header's bytes; returns how many bytes of data belonged to it
 * (the rest is body). */
static size_t take_header(struct sink *sink, const char *data, size_t len)
{
    if (sink->header_done)
        return 0;
    /* is the empty line in this chunk? */
    size_t n = len;
    for (size_t i = 0; i + 4 <= len; i++) {
        if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
            n = i + 4;
            sink->header_done = true;
            break;
        }
    }
    if (sink->header_len + n > sizeof sink->header) {
        sink->header_done = false;
        sink->header_too_long = true;
        return len;
    }
    memcpy(sink->header + sink->header_len, data, n);
    sink->header_len += n;
    if (sink->header_done)
        print_header(sink);
    return n;
}

/* Every chunk received goes here: in HTTP mode the header first, then the payload. */
static void consume(struct sink *sink, const char *data, size_t len)
{
    size_t used = sink->http ? take_header(sink, data, len) : 0;
    write_payload(sink, data + used, len - used);
}

/* Step 4: the receive loop. recv() until it returns 0: that, and only that, means the
 * payload is over. A short chunk does not: the rest may simply not be here yet. With -1
 * (opts->once) we stop after the first recv(), as the tutorials' buggy clients do, to see
 * what gets lost. */
static struct totals receive_all(int fd, const struct options *opts, struct sink *sink)
{
    struct totals totals = {0};
    char *buf = malloc(opts->buffer_size);
    if (buf == NULL)
        die_errno("cannot allocate a %zu-byte buffer", opts->buffer_size);
    for (;;) {
        ssize_t n =
            read_chunk(fd, buf, opts->buffer_size, totals.reads + 1, sink->report, opts->quiet);
        if (n == 0)
            break;
        if (n == -1) {
            totals.error = errno;
            break;
        }
        totals.reads++;
        totals.bytes += (size_t)n;
        consume(sink, buf, (size_t)n);
        if (sink->header_too_long || opts->once)
            break;
    }
    free(buf);
    return totals;
}

/* Step 6: an HTTP/1.0 GET request. HTTP/1.0 and "Connection: close" ask the server to close
 * the connection after the response: the same end-of-payload signal as our own server's. */
static void send_request(int fd, const char *host, const char *port, const char *path, FILE *report)
{
    char request[PATH_MAX_LEN + 256];
    const char *open = strchr(host, ':') != NULL ? "[" : "";
    const char *close_ = strchr(host, ':') != NULL ? "]" : "";
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.0\r\nHost: %s%s%s:%s\r\nConnection: close\r\n\r\n", path, open,
                     host, close_, port);
    if (n < 0 || (size_t)n >= sizeof request)
        die("the request for %s does not fit in %zu bytes", path, sizeof request);
    send_all(fd, request, (size_t)n);
    fprintf(report, "request: GET %s HTTP/1.0\n", path);
}

/* -o FILE: the payload goes there; -o -: to stdout, and then the report lines to stderr. */
static void open_output(const struct options *opts, struct sink *sink)
{
    sink->report = stdout;
    sink->out = NULL;
    sink->out_name = opts->output;
    if (opts->output == NULL)
        return;
    if (strcmp(opts->output, "-") == 0) {
        sink->out = stdout;
        sink->out_name = "stdout";
        sink->report = stderr;
        return;
    }
    sink->out = fopen(opts->output, "wb");
    if (sink->out == NULL)
        die_errno("cannot open %s", opts->output);
}

static void close_output(struct sink *sink)
{
    if (sink->out == NULL)
        return;
    /* Buffered bytes are written now: a full disk shows up here, not at fwrite(). */
    if (sink->out == stdout ? fflush(stdout) != 0 : fclose(sink->out) != 0)
        die_errno("write %s", sink->out_name);
}

static bool valid_path(const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || len > PATH_MAX_LEN || path[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isgraph((unsigned char)path[i])) /* no spaces, no "\r\n": one request line */
            return false;
    return true;
}

static bool on_option(void *ctx, int key, const char *value)
{
    struct options *opts = ctx;
    switch (key) {
    case 'b':
        return parse_size(value, 1, MAX_BUFFER, &opts->buffer_size);
    case '1':
        opts->once = true;
        return true;
    case 'q':
        opts->quiet = true;
        return true;
    case 'o':
        opts->output = value;
        return value[0] != '\0';
    case 'g':
        opts->get_path = value;
        return valid_path(value);
    }
    return false;
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'b', "buffer", "SIZE", "recv() into a buffer of SIZE bytes, 1 to 16777216 (default 1024)"},
        {'1', "once", NULL, "call recv() only once, and lose the rest (the tutorials' bug)"},
        {'q', "quiet", NULL, "print the totals only, not a line per recv()"},
        {'o', "output", "FILE", "write the payload (HTTP: the body) to FILE; - for stdout"},
        {'g', "get", "PATH", "fetch PATH from an HTTP server, e.g. -g /index.html"},
        {0},
    };
    struct options opts = {.buffer_size = DEFAULT_BUFFER};
    struct cli cli = {
        .summary = "Read what a TCP server sends until it closes, with a buffer of -b SIZE "
                   "bytes, and report every recv().",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9002",
        .options = extra,
        .on_option = on_option,
        .ctx = &opts,
    };
    cli_parse(&cli, argc, argv);

    struct sink sink = {.http = opts.get_path != NULL};
    open_output(&opts, &sink);

    int fd = connect_to_server(cli.host, cli.port, sink.report);
    if (sink.http)
        send_request(fd, cli.host, cli.port, opts.get_path, sink.report);
    struct totals totals = receive_all(fd, &opts, &sink);
    close(fd);

    fprintf(sink.report, "total: %zu bytes in %zu read%s (buffer %zu bytes)\n", totals.bytes,
            totals.reads, totals.reads == 1 ? "" : "s", opts.buffer_size);
    bool header_missing = sink.http && !sink.header_done;
    if (sink.http && !header_missing)
        fprintf(sink.report, "body: %zu bytes\n", sink.payload_len);
    close_output(&sink);
    if (totals.error != 0) {
        errno = totals.error;
        die_errno("receive");
    }
    if (sink.header_too_long)
        die("the HTTP header is longer than %zu bytes", sizeof sink.header);
    if (header_missing)
        die("the connection ended before the end of the HTTP header (%zu bytes came)",
            sink.header_len);
    return 0;
}
