/* Lab 09 client: the other end of each of the server's three modes.
 *
 *   client naive WORD...   sends each word with its own send(), back to back, and closes:
 *                          watch the naive server take them for one message
 *   client echo MSG...     sends each message as a frame, all of them at once, then reads
 *                          and prints the framed replies: every boundary survives
 *   client upload FILE     sends a JSON header (name, size), FILE, and a JSON trailer with
 *                          the SHA-256 of what it sent, hashed chunk by chunk while sending;
 *                          prints the server's answer; exit status 1 if it refused the file */
#include "frame.h"
#include "socklab.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    CHUNK_LEN = 256 * 1024, /* how much of a file we read, send and hash at a time */
    WHY_LEN = 256,
};

struct options {
    double gap;       /* naive mode: seconds between two sends */
    const char *name; /* upload mode: the name to store the file under */
    bool no_verify;   /* upload mode: compute no SHA-256 (to measure what it costs) */
};

/* A socket connected to host:port, as in lab 01. Exits with a message if no address
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

static void pause_for(double seconds)
{
    struct timespec gap = {.tv_sec = (time_t)seconds,
                           .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&gap, &gap) == -1 && errno == EINTR)
        continue;
}

/* ---------------------------------------------------------------- part 1: the problem */

/* One send() per word, as a program that believes in messages would write it. */
static void send_words(int fd, char **words, int count, double gap)
{
    for (int i = 0; i < count; i++) {
        if (i > 0 && gap > 0)
            pause_for(gap);
        size_t len = strlen(words[i]);
        if (send_all(fd, words[i], len) == -1)
            die_errno("send");
        char text[MESSAGE_TEXT_LEN];
        printf("sent message %d: %zu bytes %s\n", i + 1, len, describe_bytes(words[i], len, text));
    }
}

/* ------------------------------------------------------------ part 2: length prefixes */

/* Step 7: every message goes out as a frame, all of them before the first reply is read
 * (they may well share a segment on the way); then one framed reply per message. */
static void echo_messages(int fd, char **messages, int count)
{
    for (int i = 0; i < count; i++) {
        if (send_frame(fd, messages[i], (uint32_t)strlen(messages[i])) == -1)
            die_errno("send");
    }
    for (int i = 1; i <= count; i++) {
        char *reply;
        uint32_t len;
        switch (recv_frame(fd, MAX_FRAME_LEN, &reply, &len)) {
        case FRAME_OK: {
            char text[MESSAGE_TEXT_LEN];
            printf("reply %d: %" PRIu32 " bytes %s\n", i, len, describe_bytes(reply, len, text));
            free(reply);
            break;
        }
        case FRAME_END:
        case FRAME_SHORT:
            die("the server closed the connection after %d of %d replies", i - 1, count);
        case FRAME_TOO_BIG:
            die("the server announced a reply of %" PRIu32 " bytes, over the limit of %d", len,
                MAX_FRAME_LEN);
        case FRAME_ERROR:
            die_errno("receive");
        }
    }
}

/* --------------------------------------------------------------- part 3: file upload */

/* A file being uploaded, and the SHA-256 of what has been sent of it so far. */
struct upload {
    const char *path;
    const char *name;
    int file;
    uint64_t size;
    char *chunk;                      /* CHUNK_LEN bytes: the piece being sent */
    EVP_MD_CTX *hash;                 /* NULL with --no-verify */
    unsigned char sha256[SHA256_LEN]; /* once the whole file is sent (zeros with --no-verify) */
};

/* Opens the file, learns its size, and gets the buffer and the SHA-256 computation ready.
 * Nothing is read yet: the file is read once, as it is sent. */
static void prepare_upload(struct upload *up, bool verify)
{
    up->file = open(up->path, O_RDONLY);
    if (up->file == -1)
        die_errno("cannot open %s", up->path);
    struct stat st;
    if (fstat(up->file, &st) == -1)
        die_errno("cannot stat %s", up->path);
    if (!S_ISREG(st.st_mode))
        die("cannot upload %s: it is not a regular file", up->path);
    if ((uint64_t)st.st_size > MAX_FILE_SIZE)
        die("cannot upload %s: it is larger than the server's limit of 1 GiB", up->path);
    up->size = (uint64_t)st.st_size;
    up->chunk = malloc(CHUNK_LEN);
    if (up->chunk == NULL)
        die("out of memory");
    memset(up->sha256, 0, SHA256_LEN);
    up->hash = NULL;
    if (verify) {
        up->hash = EVP_MD_CTX_new();
        if (up->hash == NULL || EVP_DigestInit_ex(up->hash, EVP_sha256(), NULL) != 1)
            die("cannot compute SHA-256");
    }
}

/* Adds len bytes of the file to its SHA-256 (nothing with --no-verify). */
static void hash_chunk(struct upload *up, const void *chunk, size_t len)
{
    if (up->hash != NULL && EVP_DigestUpdate(up->hash, chunk, len) != 1)
        die("cannot compute SHA-256");
}

/* Puts the SHA-256 of everything given to hash_chunk() into up->sha256. */
static void finish_hash(struct upload *up)
{
    if (up->hash != NULL && EVP_DigestFinal_ex(up->hash, up->sha256, NULL) != 1)
        die("cannot compute SHA-256");
}

static void finish_upload(struct upload *up)
{
    EVP_MD_CTX_free(up->hash);
    free(up->chunk);
    close(up->file);
}

/* Step 11: a JSON object as a frame, as the header and the trailer go; deletes object. */
static void send_json(int fd, cJSON *object, const char *what)
{
    char *text = cJSON_PrintUnformatted(object);
    cJSON_Delete(object);
    if (text == NULL)
        die("out of memory");
    size_t len = strlen(text);
    if (len > MAX_HEADER_LEN) {
        cJSON_free(text);
        die("the %s is longer than %d bytes", what, MAX_HEADER_LEN);
    }
    int rc = send_frame(fd, text, (uint32_t)len);
    int saved = errno;
    cJSON_free(text);
    if (rc == -1 && saved != EPIPE && saved != ECONNRESET) {
        errno = saved;
        die_errno("send");
    }
}

/* Step 11: the header frame: {"name": ..., "size": ...}. */
static void send_header(int fd, const struct upload *up)
{
    cJSON *header = cJSON_CreateObject();
    cJSON_AddStringToObject(header, "name", up->name);
    cJSON_AddNumberToObject(header, "size", (double)up->size);
    send_json(fd, header, "header");
}

/* Step 11: the file, right after the header, each chunk hashed right after it is sent: the
 * kernel delivers it to the server while we hash. Returns false if the server stopped
 * reading (it has refused the upload: its answer says why). */
static bool send_body(int fd, struct upload *up)
{
    uint64_t sent = 0;
    while (sent < up->size) {
        ssize_t got = read(up->file, up->chunk, CHUNK_LEN);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1)
            die_errno("cannot read %s", up->path);
        if (got == 0 || sent + (uint64_t)got > up->size)
            die("%s changed while it was being sent", up->path);
        if (send_all(fd, up->chunk, (size_t)got) == -1) {
            if (errno == EPIPE || errno == ECONNRESET)
                return false;
            die_errno("send");
        }
        hash_chunk(up, up->chunk, (size_t)got);
        sent += (uint64_t)got;
    }
    return true;
}

/* Step 11: the trailer frame, after the file: {"sha256": ...}, the digest of what was sent. */
static void send_trailer(int fd, struct upload *up)
{
    finish_hash(up);
    char hex[2 * SHA256_LEN + 1];
    hex_encode(up->sha256, SHA256_LEN, hex);
    cJSON *trailer = cJSON_CreateObject();
    cJSON_AddStringToObject(trailer, "sha256", hex);
    send_json(fd, trailer, "trailer");
}

/* The server's answer: a frame with {"status": "ok", ...} or {"status": "error", ...}.
 * Returns true for ok; copies the server's reason into why otherwise. */
static bool read_status(int fd, const struct upload *up, char why[WHY_LEN])
{
    char *text;
    uint32_t len;
    switch (recv_frame(fd, MAX_HEADER_LEN, &text, &len)) {
    case FRAME_OK:
        break;
    case FRAME_END:
    case FRAME_SHORT:
    case FRAME_ERROR: /* ECONNRESET, after the server hung up on a body it did not want */
        die("the server closed the connection without an answer for %s", up->path);
    case FRAME_TOO_BIG:
        die("the server's answer is over %d bytes", MAX_HEADER_LEN);
    }
    cJSON *status = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *word = cJSON_GetObjectItemCaseSensitive(status, "status");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(status, "error");
    bool ok = cJSON_IsString(word) && strcmp(word->valuestring, "ok") == 0;
    snprintf(why, WHY_LEN, "%s",
             cJSON_IsString(error) ? error->valuestring : "the server's answer is not a status");
    cJSON_Delete(status);
    return ok;
}

/* Header, body, trailer, answer. Returns true if the server stored the file; copies its
 * reason into why if it refused. */
static bool upload_file(int fd, struct upload *up, char why[WHY_LEN])
{
    send_header(fd, up);
    if (send_body(fd, up)) /* if the server stopped reading, its answer says why */
        send_trailer(fd, up);
    return read_status(fd, up, why);
}

/* ------------------------------------------------------------------ the client itself */

static noreturn void bad_usage(const char *problem, const char *what)
{
    fprintf(stderr,
            "%s: %s '%s'\n"
            "usage: %s [-H HOST] [-p PORT] [-g SECONDS] [-n NAME] [-N] naive WORD... | "
            "echo MESSAGE... | upload FILE (--help for more)\n",
            program_name(), problem, what, program_name());
    exit(2);
}

static bool on_option(void *ctx, int key, const char *value)
{
    struct options *opts = ctx;
    if (key == 'g')
        return parse_seconds(value, 10, &opts->gap);
    if (key == 'n') {
        opts->name = value; /* the server judges it: try -n ../x */
        return true;
    }
    if (key == 'N') {
        opts->no_verify = true;
        return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    static const struct cli_option extra[] = {
        {'g', "gap", "SECONDS", "naive mode: pause between two sends (default none)"},
        {'n', "name", "NAME", "upload mode: store the file as NAME (default FILE's own name)"},
        {'N', "no-verify", NULL, "upload mode: compute no SHA-256 (to measure what it costs)"},
        {0},
    };
    struct options opts = {0};
    struct cli cli = {
        .summary = "Talk to the lab 09 server. MODE and its arguments:\n"
                   "  naive WORD...     send each word with its own send(), then close\n"
                   "  echo MESSAGE...   send each message as a frame, print the replies\n"
                   "  upload FILE       send FILE between a JSON header and trailer, print\n"
                   "                    the answer",
        .host_help = "the server's address",
        .default_host = "127.0.0.1",
        .port_help = "the server's port",
        .default_port = "9009",
        .operands = "MODE ARGUMENT...",
        .min_operands = 2,
        .max_operands = INT_MAX,
        .options = extra,
        .on_option = on_option,
        .ctx = &opts,
    };
    cli_parse(&cli, argc, argv);
    const char *mode = cli.operand[0];
    char **args = cli.operand + 1;
    int count = cli.operand_count - 1;

    if (strcmp(mode, "naive") == 0) {
        int fd = connect_to_server(cli.host, cli.port);
        send_words(fd, args, count, opts.gap);
        close(fd);
    } else if (strcmp(mode, "echo") == 0) {
        /* Each fits in a frame: Linux limits an argument to 128 KiB (MAX_ARG_STRLEN). */
        int fd = connect_to_server(cli.host, cli.port);
        echo_messages(fd, args, count);
        close(fd);
    } else if (strcmp(mode, "upload") == 0) {
        if (count != 1)
            bad_usage("upload takes one file, not", args[1]);
        const char *slash = strrchr(args[0], '/');
        struct upload up = {.path = args[0], .name = slash != NULL ? slash + 1 : args[0]};
        if (opts.name != NULL)
            up.name = opts.name;
        /* before connecting: a missing file bothers no server */
        prepare_upload(&up, !opts.no_verify);
        int fd = connect_to_server(cli.host, cli.port);
        char why[WHY_LEN];
        bool stored = upload_file(fd, &up, why);
        close(fd);
        finish_upload(&up);
        if (!stored)
            die("the server refused %s: %s", up.path, why);
        char hex[2 * SHA256_LEN + 1] = "not verified";
        if (!opts.no_verify)
            hex_encode(up.sha256, SHA256_LEN, hex);
        printf("uploaded %s as %s: %" PRIu64 " bytes%s%s\n", up.path, up.name, up.size,
               opts.no_verify ? ", " : ", sha256 ", hex);
    } else {
        bad_usage("unknown mode", mode);
    }
    return 0;
}
