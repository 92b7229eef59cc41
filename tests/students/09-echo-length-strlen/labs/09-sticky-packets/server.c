/* Lab 09 server: message boundaries on a TCP stream, one client at a time.
 *
 * The server runs in one of three modes, the three parts of the lab:
 *   naive   takes whatever one recv() returns as one message, and prints it: this shows
 *           that TCP keeps no boundaries (two sends arrive as one message, one as several)
 *   echo    reads length-prefixed frames and answers each with a frame holding the same bytes
 *   upload  receives files: a frame with a JSON header (name, size), the file, then a
 *           frame with a JSON trailer (its SHA-256). The server hashes each piece of the file
 *           as it arrives, so the checksum is ready when the trailer is. The file appears in
 *           the upload directory only once its size and checksum are right; the answer is a
 *           frame with a JSON status.
 *
 * The server is iterative: it serves one client to the end, then accepts the next (the
 * kernel queues the others meanwhile). It runs until SIGTERM or Ctrl-C. */
#include "frame.h"
#include "socklab.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    BACKLOG = 16,             /* connections the kernel may hold for us before we accept them */
    NAIVE_BUF_LEN = 1024,     /* what the naive receiver reads at once, like the tutorials */
    CHUNK_LEN = 256 * 1024,   /* how much of an upload we receive, hash and write at a time */
    WHY_LEN = 256,            /* room for the reason an upload is refused */
    DRAIN_PATIENCE_MS = 5000, /* after a refusal: how long we wait for the client to close */
    DRAIN_LIMIT = 16 << 20,   /* after a refusal: how much of the unwanted file we read */
};

enum mode { MODE_NAIVE, MODE_ECHO, MODE_UPLOAD };

struct options {
    const char *dir; /* where uploads are stored */
    bool verify;     /* false with --no-verify: no SHA-256 at all (to measure what it costs) */
};

/* A socket listening on host:port, as in lab 01. Exits with a message if there is none. */
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

static void print_listening_address(int listener)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(listener, (struct sockaddr *)&local, &len) == -1)
        die_errno("getsockname");
    char text[ADDR_TEXT_LEN];
    printf("listening on %s\n", addr_to_text((struct sockaddr *)&local, len, text));
}

/* "message 2: 5 bytes "world"" */
static void print_message(unsigned number, const void *data, size_t len)
{
    char text[MESSAGE_TEXT_LEN];
    printf("message %u: %zu bytes %s\n", number, len, describe_bytes(data, len, text));
}

/* A wait in the middle of a conversation ended without data: say why, unless the server is
 * stopping (then there is nothing to say). */
static void report_receive_error(const char *peer)
{
    if (errno == ETIMEDOUT)
        warn("%s sent nothing for %d s: giving up on it", peer, IDLE_TIMEOUT_MS / 1000);
    else if (errno != ECANCELED)
        warn_errno("receive from %s", peer);
}

/* ---------------------------------------------------------------- part 1: the problem */

/* Step 1: the naive receiver. It believes that one recv() returns one message, as the
 * tutorials' `conn.recv(1024)` does - and prints what it gets, so you can see it is wrong. */
static void naive_receive(int conn, const char *peer)
{
    char buf[NAIVE_BUF_LEN];
    unsigned count = 0;
    for (;;) {
        enum wait_result ready = wait_readable(conn, IDLE_TIMEOUT_MS);
        if (ready != WAIT_READABLE) {
            if (ready == WAIT_STOPPED)
                errno = ECANCELED;
            else if (ready == WAIT_TIMEOUT)
                errno = ETIMEDOUT;
            report_receive_error(peer);
            return;
        }
        ssize_t got = recv(conn, buf, sizeof buf, 0);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1) {
            report_receive_error(peer);
            return;
        }
        if (got == 0)
            break;
        print_message(++count, buf, (size_t)got);
    }
    printf("end of stream from %s after %u %s\n", peer, count, count == 1 ? "message" : "messages");
}

/* ------------------------------------------------------------ part 2: length prefixes */

/* Step 6: answer every frame with a frame holding the same bytes, until the client closes.
 * However the frames arrive - one byte per segment, or a hundred in one - recv_frame()
 * finds each one's end from its length. */
static void echo_frames(int conn, const char *peer)
{
    for (unsigned count = 1;; count++) {
        char *payload;
        uint32_t len;
        enum frame_status status = recv_frame(conn, MAX_FRAME_LEN, &payload, &len);
        if (status == FRAME_OK) {
            print_message(count, payload, len);
            int rc = send_frame(conn, payload, (uint32_t)strlen(payload));
            free(payload);
            if (rc == -1) {
                warn_errno("send to %s", peer);
                return;
            }
        } else if (status == FRAME_END) {
            printf("end of stream from %s after %u %s\n", peer, count - 1,
                   count - 1 == 1 ? "message" : "messages");
            return;
        } else if (status == FRAME_SHORT) {
            warn("%s closed the connection in the middle of a frame", peer);
            return;
        } else if (status == FRAME_TOO_BIG) {
            warn("refused a frame of %" PRIu32 " bytes from %s: the limit is %d bytes", len, peer,
                 MAX_FRAME_LEN);
            return;
        } else {
            report_receive_error(peer);
            return;
        }
    }
}

/* --------------------------------------------------------------- part 3: file upload */

/* Sends a status frame (the JSON text of status) and deletes status. */
static void send_status(int conn, const char *peer, cJSON *status)
{
    char *text = cJSON_PrintUnformatted(status); /* NULL if status is (out of memory) */
    cJSON_Delete(status);
    if (text == NULL) {
        warn("out of memory for the answer to %s", peer);
        return;
    }
    if (send_frame(conn, text, (uint32_t)strlen(text)) == -1)
        warn_errno("send to %s", peer);
    cJSON_free(text);
}

/* Milliseconds on a clock that never jumps, for the drain's time limit. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* After a refusal, the client may still be sending the file we do not want. If we closed
 * now, with its bytes unread, Linux would answer with a reset (RST) instead of an ordinary
 * end, and a reset throws away whatever of our answer has not left yet, and makes the
 * client's next send() fail. So: shutdown(SHUT_WR), which sends the end of the stream after
 * the answer; then read and discard what the client sends until it closes its side (recv()
 * returns 0), for at most DRAIN_PATIENCE_MS and DRAIN_LIMIT bytes. The caller then closes,
 * with nothing unread (as lab 02's server does after its payload). */
static void hang_up_after_refusal(int conn, const char *peer)
{
    if (shutdown(conn, SHUT_WR) == -1)
        return; /* the connection is already broken: nothing to save */
    char scrap[4096];
    size_t drained = 0;
    long long give_up = now_ms() + DRAIN_PATIENCE_MS;
    while (drained < DRAIN_LIMIT) {
        long long left = give_up - now_ms();
        enum wait_result ready = wait_readable(conn, left > 0 ? (int)left : 0);
        if (ready == WAIT_STOPPED)
            return; /* SIGTERM or SIGINT: the server is stopping */
        if (ready != WAIT_READABLE)
            break; /* the patience is over (or poll failed): close all the same */
        ssize_t got = recv(conn, scrap, sizeof scrap, 0);
        if (got == 0 || (got == -1 && errno != EINTR))
            return; /* the client closed (or reset): it has read all it wanted */
        if (got > 0)
            drained += (size_t)got;
    }
    warn("%s did not close within %d s or %d bytes of the refusal; closing", peer,
         DRAIN_PATIENCE_MS / 1000, DRAIN_LIMIT);
}

/* Refuses an upload: prints why, tells the client {"status": "error", "error": why}, and
 * hangs up without losing that answer. */
static void refuse(int conn, const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(int conn, const char *peer, const char *fmt, ...)
{
    char why[WHY_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    printf("refused an upload from %s: %s\n", peer, why);
    cJSON *status = cJSON_CreateObject();
    cJSON_AddStringToObject(status, "status", "error");
    cJSON_AddStringToObject(status, "error", why);
    send_status(conn, peer, status);
    hang_up_after_refusal(conn, peer);
}

/* Tells the client {"status": "ok", ...}. digest is the file's SHA-256, or NULL if the
 * server does not verify uploads (--no-verify). */
static void accept_upload(int conn, const char *peer, const struct upload_header *header,
                          const unsigned char *digest)
{
    char hex[2 * SHA256_LEN + 1] = "not verified";
    if (digest != NULL)
        hex_encode(digest, SHA256_LEN, hex);
    printf("stored %s: %" PRIu64 " bytes%s%s\n", header->name, header->size,
           digest != NULL ? ", sha256 " : ", ", hex);
    cJSON *status = cJSON_CreateObject();
    cJSON_AddStringToObject(status, "status", "ok");
    cJSON_AddStringToObject(status, "name", header->name);
    cJSON_AddNumberToObject(status, "size", (double)header->size);
    if (digest != NULL)
        cJSON_AddStringToObject(status, "sha256", hex);
    send_status(conn, peer, status);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t written = write(fd, buf, len);
        if (written == -1 && errno == EINTR)
            continue;
        if (written == -1)
            return -1;
        buf += written;
        len -= (size_t)written;
    }
    return 0;
}

enum body_result {
    BODY_OK,        /* all of it arrived and is in the file; digest is its SHA-256 */
    BODY_REFUSED,   /* something is wrong; why says what, and the client is told */
    BODY_ABANDONED, /* the connection broke or the server is stopping: no one to tell */
};

/* Receives what has arrived, at least 1 byte and at most len. Unlike recv_exact(), it does
 * not wait until buf is full, so each piece of a file can be hashed and written as soon as
 * it is here. Returns the count, 0 if the peer has closed, or -1 with errno set (ETIMEDOUT
 * or ECANCELED, as recv_exact()). */
static ssize_t recv_some(int fd, void *buf, size_t len)
{
    for (;;) {
        enum wait_result ready = wait_readable(fd, IDLE_TIMEOUT_MS);
        if (ready != WAIT_READABLE) {
            errno = ready == WAIT_STOPPED ? ECANCELED : ready == WAIT_TIMEOUT ? ETIMEDOUT : errno;
            return -1;
        }
        ssize_t got = recv(fd, buf, len, 0);
        if (got != -1 || errno != EINTR)
            return got;
    }
}

/* Receives size bytes into file, and computes their SHA-256 into digest (unless digest is
 * NULL: --no-verify). Each piece is hashed as soon as it has arrived, while the client
 * sends the next one: the hashing overlaps the transfer instead of following it. Every
 * read asks for no more than the file's remaining bytes: what follows them is the trailer. */
static enum body_result receive_body(int conn, const char *peer, int file, uint64_t size,
                                     unsigned char *digest, char why[WHY_LEN])
{
    EVP_MD_CTX *hash = digest != NULL ? EVP_MD_CTX_new() : NULL;
    char *chunk = malloc(CHUNK_LEN); /* 256 KiB: the heap's job, not the stack's */
    if ((digest != NULL && (hash == NULL || EVP_DigestInit_ex(hash, EVP_sha256(), NULL) != 1)) ||
        chunk == NULL) {
        EVP_MD_CTX_free(hash);
        free(chunk);
        snprintf(why, WHY_LEN, "the server is out of memory");
        return BODY_REFUSED;
    }
    enum body_result result = BODY_OK;
    uint64_t done = 0;
    while (result == BODY_OK && done < size) {
        size_t want = size - done < CHUNK_LEN ? (size_t)(size - done) : CHUNK_LEN;
        ssize_t got = recv_some(conn, chunk, want);
        if (got == -1 && errno == ETIMEDOUT) {
            snprintf(why, WHY_LEN, "nothing arrived for %d s", IDLE_TIMEOUT_MS / 1000);
            result = BODY_REFUSED;
        } else if (got == -1) {
            report_receive_error(peer);
            result = BODY_ABANDONED;
        } else if (got == 0) { /* the client closed before the end of the file */
            snprintf(why, WHY_LEN, "the file ended after %" PRIu64 " of %" PRIu64 " bytes", done,
                     size);
            result = BODY_REFUSED;
        } else if (hash != NULL && EVP_DigestUpdate(hash, chunk, (size_t)got) != 1) {
            snprintf(why, WHY_LEN, "the server cannot compute checksums");
            result = BODY_REFUSED;
        } else if (write_all(file, chunk, (size_t)got) == -1) {
            snprintf(why, WHY_LEN, "the server cannot write the file: %s", strerror(errno));
            result = BODY_REFUSED;
        }
        done += got > 0 ? (uint64_t)got : 0;
    }
    if (result == BODY_OK && hash != NULL && EVP_DigestFinal_ex(hash, digest, NULL) != 1) {
        snprintf(why, WHY_LEN, "the server cannot compute checksums");
        result = BODY_REFUSED;
    }
    EVP_MD_CTX_free(hash);
    free(chunk);
    return result;
}

/* Step 10: the trailer, after the file: a frame like the header, holding the SHA-256 that
 * the client computed while it sent the file. */
static enum body_result receive_trailer(int conn, const char *peer,
                                        unsigned char sha256[SHA256_LEN], char why[WHY_LEN])
{
    char *json;
    uint32_t len;
    switch (recv_frame(conn, MAX_HEADER_LEN, &json, &len)) {
    case FRAME_OK:
        break;
    case FRAME_END:
    case FRAME_SHORT:
        snprintf(why, WHY_LEN, "the upload ended before its trailer");
        return BODY_REFUSED;
    case FRAME_TOO_BIG:
        snprintf(why, WHY_LEN, "a trailer of %" PRIu32 " bytes is over the limit of %d bytes", len,
                 MAX_HEADER_LEN);
        return BODY_REFUSED;
    case FRAME_ERROR:
        if (errno == ETIMEDOUT) {
            snprintf(why, WHY_LEN, "nothing arrived for %d s", IDLE_TIMEOUT_MS / 1000);
            return BODY_REFUSED;
        }
        report_receive_error(peer);
        return BODY_ABANDONED;
    }
    const char *problem = upload_trailer_parse(json, len, sha256);
    free(json);
    if (problem != NULL) {
        snprintf(why, WHY_LEN, "%s", problem);
        return BODY_REFUSED;
    }
    return BODY_OK;
}

/* Step 10: receive the file into a temporary file next to its final place, then its
 * trailer, and give the file its name (rename) only once its size and checksum are right.
 * Until then no one can see a half-written or corrupt file under that name; on any failure
 * the temporary file goes. */
static void store_upload(int conn, const char *peer, const struct options *opts,
                         const struct upload_header *header)
{
    char temp[PATH_MAX];
    char final[PATH_MAX];
    snprintf(temp, sizeof temp, "%s/.upload-XXXXXX", opts->dir);
    snprintf(final, sizeof final, "%s/%s", opts->dir, header->name);
    int file = mkstemp(temp);
    if (file == -1) {
        warn_errno("cannot create a file in %s", opts->dir);
        refuse(conn, peer, "the server cannot store files now");
        return;
    }
    char why[WHY_LEN];
    unsigned char digest[SHA256_LEN];
    enum body_result result =
        receive_body(conn, peer, file, header->size, opts->verify ? digest : NULL, why);
    if (close(file) == -1 && result == BODY_OK) {
        snprintf(why, WHY_LEN, "the server cannot write the file: %s", strerror(errno));
        result = BODY_REFUSED;
    }
    unsigned char promised[SHA256_LEN];
    if (result == BODY_OK) {
        if (header->has_sha256)
            memcpy(promised, header->sha256, SHA256_LEN);
        else
            result = receive_trailer(conn, peer, promised, why);
    }
    if (result == BODY_OK && opts->verify && memcmp(digest, promised, SHA256_LEN) != 0) {
        char hex[2 * SHA256_LEN + 1];
        hex_encode(digest, SHA256_LEN, hex);
        snprintf(why, WHY_LEN, "the checksum does not match: the file that arrived has sha256 %s",
                 hex);
        result = BODY_REFUSED;
    }
    if (result == BODY_OK && rename(temp, final) == -1) {
        snprintf(why, WHY_LEN, "the server cannot store the file: %s", strerror(errno));
        result = BODY_REFUSED;
    }
    if (result != BODY_OK) {
        unlink(temp);
        if (result == BODY_REFUSED)
            refuse(conn, peer, "%s", why);
        return;
    }
    accept_upload(conn, peer, header, opts->verify ? digest : NULL);
}

/* Step 9: one upload. The header is a frame like any other, with its own, smaller limit;
 * everything in it is checked before a single byte of the file is accepted. */
static void receive_upload(int conn, const char *peer, const struct options *opts)
{
    char *json;
    uint32_t len;
    switch (recv_frame(conn, MAX_HEADER_LEN, &json, &len)) {
    case FRAME_OK:
        break;
    case FRAME_END:
    case FRAME_SHORT:
        warn("%s closed the connection before the end of the header", peer);
        return;
    case FRAME_TOO_BIG:
        refuse(conn, peer, "a header of %" PRIu32 " bytes is over the limit of %d bytes", len,
               MAX_HEADER_LEN);
        return;
    case FRAME_ERROR:
        report_receive_error(peer);
        return;
    }
    struct upload_header header;
    const char *problem = upload_header_parse(json, len, &header);
    free(json);
    if (problem != NULL) {
        refuse(conn, peer, "%s", problem);
        return;
    }
    store_upload(conn, peer, opts, &header);
}

/* ------------------------------------------------------------------- the server itself */

/* The connection loop: one client at a time, in the chosen mode. */
static void serve(int listener, enum mode mode, const struct options *opts)
{
    for (;;) {
        enum wait_result ready = wait_readable(listener, -1);
        if (ready == WAIT_STOPPED)
            return; /* SIGTERM or SIGINT */
        if (ready == WAIT_ERROR)
            die_errno("poll");
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int conn = accept(listener, (struct sockaddr *)&peer, &peer_len);
        if (conn == -1) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            die_errno("accept");
        }
        char peer_text[ADDR_TEXT_LEN];
        addr_to_text((struct sockaddr *)&peer, peer_len, peer_text);
        printf("connection from %s\n", peer_text);
        if (mode == MODE_NAIVE)
            naive_receive(conn, peer_text);
        else if (mode == MODE_ECHO)
            echo_frames(conn, peer_text);
        else
            receive_upload(conn, peer_text, opts);
        close(conn);
    }
}

/* The upload directory: made if it is missing. */
static void prepare_upload_dir(const char *dir)
{
    if (strlen(dir) + 1 + FILE_NAME_MAX >= PATH_MAX)
        die("the upload directory's path is too long: %s", dir);
    if (mkdir(dir, 0755) == -1 && errno != EEXIST)
        die_errno("cannot create the upload directory %s", dir);
    struct stat st;
    if (stat(dir, &st) == -1)
        die_errno("cannot use the upload directory %s", dir);
    if (!S_ISDIR(st.st_mode))
        die("cannot use the upload directory %s: it is not a directory", dir);
}

/* The MODE operand. Anything else is a bad argument: the usage, and exit status 2. */
static enum mode parse_mode(const char *name)
{
    if (strcmp(name, "naive") == 0)
        return MODE_NAIVE;
    if (strcmp(name, "echo") == 0)
        return MODE_ECHO;
    if (strcmp(name, "upload") == 0)
        return MODE_UPLOAD;
    fprintf(stderr,
            "%s: unknown mode '%s': expected naive, echo or upload\n"
            "usage: %s [-H HOST] [-p PORT] [-d DIR] [-N] naive|echo|upload (--help for more)\n",
            program_name(), name, program_name());
    exit(2);
}

static bool on_option(void *ctx, int key, const char *value)
{
    struct options *opts = ctx;
    if (key == 'N') {
        opts->verify = false;
        return true;
    }
    if (key != 'd' || value[0] == '\0')
        return false;
    opts->dir = value;
    return true;
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'d', "dir", "DIR", "upload mode: store files in DIR, made if missing (default uploads)"},
        {'N', "no-verify", NULL, "upload mode: compute no SHA-256, compare nothing (to measure)"},
        {0},
    };
    struct options opts = {.dir = "uploads", .verify = true};
    struct cli cli = {
        .summary = "Receive messages in MODE: naive (one recv = one message, which is wrong),\n"
                   "echo (length-prefixed frames) or upload (files with a JSON header and\n"
                   "trailer).",
        .host_help = "address to listen on",
        .default_host = "127.0.0.1",
        .port_help = "port to listen on; 0 lets the OS choose",
        .default_port = "9009",
        .port_may_be_zero = true,
        .operands = "MODE",
        .min_operands = 1,
        .max_operands = 1,
        .options = extra,
        .on_option = on_option,
        .ctx = &opts,
    };
    cli_parse(&cli, argc, argv);
    enum mode mode = parse_mode(cli.operand[0]);
    stop_on_signals();
    if (mode == MODE_UPLOAD)
        prepare_upload_dir(opts.dir);

    int listener = open_listener(cli.host, cli.port);
    print_listening_address(listener);
    serve(listener, mode, &opts);
    close(listener);
    printf("stopped\n");
    return 0;
}
