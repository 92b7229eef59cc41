/* frame.h - message boundaries on a byte stream: the wire formats of lab 09 and the
 * functions that read and write them.
 *
 * TCP delivers a stream of bytes. It keeps their order and loses none, but it does not keep
 * the boundaries of the sends that wrote them: two sends may arrive as one recv, and one send
 * as several. So every message on the wire says where it ends:
 *
 *   a frame        [ length: 4 bytes, unsigned, big-endian ][ payload: length bytes ]
 *   an upload      [ header frame ][ the file: header.size bytes ][ trailer frame ]
 *                  header: a frame of JSON, {"name": "notes.txt", "size": 1234}
 *                  trailer: a frame of JSON, {"sha256": "64 hex digits"}, the file's digest,
 *                  which the sender computes while it sends the file
 *                  (a header that carries "sha256" itself, as in the tutorials, has no
 *                  trailer: the digest came first)
 *   a status       a frame whose payload is JSON: {"status": "ok", ...}
 *                  or {"status": "error", "error": "what was wrong"}
 *
 * Every length comes from the peer, so it is checked against a limit before it is used to
 * allocate or to wait for anything. The parsing functions here take bytes and return a
 * verdict, without printing: the server, the client and the fuzz test (tests/fuzz/) all
 * call them. */
#ifndef FRAME_H
#define FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    FRAME_PREFIX_LEN = 4,          /* the length in front of every frame */
    MAX_FRAME_LEN = 1 << 20,       /* the largest echo message: 1 MiB */
    MAX_HEADER_LEN = 4096,         /* the largest upload header or trailer, in bytes */
    FILE_NAME_MAX = 255,           /* the longest file name, in bytes (NAME_MAX on Linux) */
    SHA256_LEN = 32,               /* a SHA-256 digest, in bytes (64 hexadecimal digits) */
    IDLE_TIMEOUT_MS = 10 * 1000,   /* a peer silent this long in mid-message is given up on */
    MESSAGE_TEXT_LEN = 64 * 4 + 8, /* room for describe_bytes(): 64 bytes, each as \xNN */
};

/* The largest file an upload may announce: 1 GiB. */
#define MAX_FILE_SIZE ((uint64_t)1 << 30)

/* ------------------------------------------------------------- reading and writing bytes */

/* Sends all len bytes, however many calls to send() that takes. 0, or -1 with errno set. */
int send_all(int fd, const void *buf, size_t len);

/* Receives exactly len bytes, however many calls to recv() that takes. Returns len; fewer
 * (0 included) if the peer closed the connection first; or -1 with errno set, ETIMEDOUT if
 * the peer sent nothing for IDLE_TIMEOUT_MS, ECANCELED if the server is stopping. */
ssize_t recv_exact(int fd, void *buf, size_t len);

/* ------------------------------------------------------------------------------- frames */

/* The 4-byte prefix for a payload of len bytes: big-endian ("network byte order"). */
void frame_prefix_encode(uint32_t len, unsigned char prefix[FRAME_PREFIX_LEN]);
/* The length a prefix announces. */
uint32_t frame_prefix_decode(const unsigned char prefix[FRAME_PREFIX_LEN]);

/* Sends one frame: the prefix, then the payload. 0, or -1 with errno set. */
int send_frame(int fd, const void *payload, uint32_t len);

enum frame_status {
    FRAME_OK,      /* *payload holds *len bytes (plus a NUL); free() it */
    FRAME_END,     /* the peer closed the connection between two frames: a normal end */
    FRAME_SHORT,   /* the peer closed the connection in the middle of a frame */
    FRAME_TOO_BIG, /* the prefix announced *len bytes, more than max: nothing was allocated */
    FRAME_ERROR,   /* recv() or malloc() failed: errno says why */
};

/* Receives one frame of at most max bytes. On FRAME_OK, *payload is a malloc'd copy of the
 * payload followed by a NUL byte, so that a text payload can be used as a C string. */
enum frame_status recv_frame(int fd, uint32_t max, char **payload, uint32_t *len);

/* ------------------------------------------------------------- upload header and trailer */

struct upload_header {
    char name[FILE_NAME_MAX + 1];
    uint64_t size;
    bool has_sha256;                  /* the digest came in the header: no trailer follows */
    unsigned char sha256[SHA256_LEN]; /* the header's digest, if has_sha256 */
};

/* Why name cannot be used as a file name in the upload directory, or NULL if it can: it
 * must be 1 to FILE_NAME_MAX bytes, without '/', control characters, or a leading '.'
 * (which rules out ".", ".." and the server's own temporary files). */
const char *file_name_problem(const char *name);

/* Parses an upload header: len bytes of JSON at json, followed by a NUL (as recv_frame()
 * delivers it). Returns NULL and fills *header, or says what is wrong with it. */
const char *upload_header_parse(const char *json, size_t len, struct upload_header *header);

/* Parses an upload trailer: len bytes of JSON at json, followed by a NUL. Returns NULL and
 * fills sha256 with the trailer's digest, or says what is wrong with it. */
const char *upload_trailer_parse(const char *json, size_t len, unsigned char sha256[SHA256_LEN]);

/* ---------------------------------------------------------------------- for printing */

/* Writes bytes as 2 * n lowercase hexadecimal digits and a NUL into out. */
void hex_encode(const unsigned char *bytes, size_t n, char *out);

/* Writes the first 64 bytes of data into text as a quoted string, with anything that is not
 * printable ASCII as \xNN, and "..." after the closing quote when there was more. */
const char *describe_bytes(const void *data, size_t len, char text[MESSAGE_TEXT_LEN]);

#endif
