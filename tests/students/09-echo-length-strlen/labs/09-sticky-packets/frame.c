/* frame.c - reading and writing framed messages on a TCP stream (see frame.h).
 *
 * The two loops at the top carry the whole lesson of this lab: one send() is not one
 * message, and one recv() is not one message either. The rest puts a length in front of
 * each message, and checks everything a peer says before believing it. */
#include "frame.h"

#include "socklab.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Sends all len bytes. send() may take fewer bytes than offered (a full send buffer, a
 * signal), and says how many it took: we loop until every byte is gone. MSG_NOSIGNAL: a
 * peer that has vanished makes send() fail with EPIPE instead of raising SIGPIPE, which
 * would kill the whole program. */
int send_all(int fd, const void *buf, size_t len)
{
    const char *next = buf;
    while (len > 0) {
        ssize_t sent = send(fd, next, len, MSG_NOSIGNAL);
        if (sent == -1 && errno == EINTR)
            continue;
        if (sent == -1)
            return -1;
        next += sent;
        len -= (size_t)sent;
    }
    return 0;
}

/* Step 2: receives exactly len bytes. recv() returns whatever has arrived so far - one byte of a
 * 4-byte length, or half a message and the start of the next - so we call it again and
 * again until we have len bytes or the peer has closed (recv() returns 0). Each wait goes
 * through wait_readable(), so that SIGTERM or a silent peer ends it. */
ssize_t recv_exact(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t have = 0;
    while (have < len) {
        enum wait_result ready = wait_readable(fd, IDLE_TIMEOUT_MS);
        if (ready == WAIT_STOPPED) {
            errno = ECANCELED;
            return -1;
        }
        if (ready == WAIT_TIMEOUT) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (ready == WAIT_ERROR)
            return -1;
        ssize_t got = recv(fd, p + have, len - have, 0);
        if (got == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            break;
        have += (size_t)got;
    }
    return (ssize_t)have;
}

/* Step 3: big-endian, byte by byte: the most significant byte goes first, whatever the byte order
 * of this machine. (htonl() and ntohl() do the same; spelling it out shows what they do.) */
void frame_prefix_encode(uint32_t len, unsigned char prefix[FRAME_PREFIX_LEN])
{
    prefix[0] = (unsigned char)(len >> 24);
    prefix[1] = (unsigned char)(len >> 16);
    prefix[2] = (unsigned char)(len >> 8);
    prefix[3] = (unsigned char)(len & 0xff);
}

uint32_t frame_prefix_decode(const unsigned char prefix[FRAME_PREFIX_LEN])
{
    return (uint32_t)prefix[0] << 24 | (uint32_t)prefix[1] << 16 | (uint32_t)prefix[2] << 8 |
           (uint32_t)prefix[3];
}

/* Step 5: the prefix and the payload go out in one buffer, with one send_all(). Two sends - 4
 * bytes, then the payload - would be just as correct, but Nagle's algorithm may hold the second one
 * back until the peer acknowledges the first, which a peer waiting for the rest of the frame may
 * delay by up to 40 ms. */
int send_frame(int fd, const void *payload, uint32_t len)
{
    char *buf = malloc(FRAME_PREFIX_LEN + (size_t)len);
    if (buf == NULL)
        return -1;
    frame_prefix_encode(len, (unsigned char *)buf);
    memcpy(buf + FRAME_PREFIX_LEN, payload, len);
    int rc = send_all(fd, buf, FRAME_PREFIX_LEN + (size_t)len);
    int saved = errno;
    free(buf);
    errno = saved;
    return rc;
}

/* Step 4: a frame is a length and then that many bytes: two exact reads, and a check of
 * the length in between. */
enum frame_status recv_frame(int fd, uint32_t max, char **payload, uint32_t *len)
{
    unsigned char prefix[FRAME_PREFIX_LEN];
    ssize_t got = recv_exact(fd, prefix, FRAME_PREFIX_LEN);
    if (got == -1)
        return FRAME_ERROR;
    if (got == 0)
        return FRAME_END;
    if (got < FRAME_PREFIX_LEN)
        return FRAME_SHORT;

    *len = frame_prefix_decode(prefix);
    if (*len > max)
        return FRAME_TOO_BIG;

    char *buf = malloc(*len + 1);
    if (buf == NULL)
        return FRAME_ERROR;
    got = recv_exact(fd, buf, *len);
    if (got < (ssize_t)*len) {
        free(buf);
        return got == -1 ? FRAME_ERROR : FRAME_SHORT;
    }
    buf[*len] = '\0';
    *payload = buf;
    return FRAME_OK;
}

/* Step 8: the name is used inside the upload directory, so it must name a file there and nothing
 * else: "../x" or "/etc/x" would write elsewhere, "" and "." are the directory itself. */
const char *file_name_problem(const char *name)
{
    if (name[0] == '\0')
        return "the file name is empty";
    if (strlen(name) > FILE_NAME_MAX)
        return "the file name is longer than 255 bytes";
    if (strchr(name, '/') != NULL)
        return "the file name must not contain '/'";
    if (name[0] == '.')
        return "the file name must not start with '.'";
    for (const char *c = name; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return "the file name must not contain control characters";
    }
    return NULL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool hex_decode(const char *text, unsigned char *out, size_t n)
{
    if (strlen(text) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int high = hex_digit(text[2 * i]), low = hex_digit(text[2 * i + 1]);
        if (high < 0 || low < 0)
            return false;
        out[i] = (unsigned char)(high << 4 | low);
    }
    return true;
}

/* Step 8: the header's fields, once the JSON is known to be an object. */
static const char *header_fields(const cJSON *root, struct upload_header *header)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
    const cJSON *sha256 = cJSON_GetObjectItemCaseSensitive(root, "sha256");
    if (!cJSON_IsString(name))
        return "the header has no \"name\" string";
    if (!cJSON_IsNumber(size))
        return "the header has no \"size\" number";
    const char *problem = file_name_problem(name->valuestring);
    if (problem != NULL)
        return problem;
    double value = size->valuedouble;
    if (!(value >= 0 && value <= (double)MAX_FILE_SIZE) || value != (double)(uint64_t)value)
        return "the size must be a whole number of bytes from 0 to 1 GiB";
    header->has_sha256 = sha256 != NULL;
    if (sha256 != NULL) {
        if (!cJSON_IsString(sha256) || !hex_decode(sha256->valuestring, header->sha256, SHA256_LEN))
            return "sha256 must be 64 hexadecimal digits";
    }
    strcpy(header->name, name->valuestring);
    header->size = (uint64_t)value;
    return NULL;
}

/* Step 8: the trailer's one field, the digest of the file that came before it. */
static const char *trailer_fields(const cJSON *root, unsigned char sha256[SHA256_LEN])
{
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(root, "sha256");
    if (!cJSON_IsString(sha))
        return "the trailer has no \"sha256\" string";
    if (!hex_decode(sha->valuestring, sha256, SHA256_LEN))
        return "sha256 must be 64 hexadecimal digits";
    return NULL;
}

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* cJSON hands every string over as a C string, which ends at its first NUL. But a JSON
 * string may hold a NUL (written \u0000, or as a raw zero byte), and then whatever follows it
 * is invisible to strlen() and to every check that reads a C string: a name
 * "safe.txt\u0000../../etc/passwd" would be checked, and stored, as "safe.txt". No field of
 * ours may hold a NUL, so in the copy that cJSON parses each NUL a string could decode to
 * becomes the character 0x01 instead: the same length, every other character the same, and
 * one that the name and checksum checks refuse, so they judge every character of the value.
 * An escape is skipped as a whole: \\u0000 is a backslash and the text "u0000", not a NUL. */
static void make_nuls_visible(char *json, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (json[i] == '\0') {
            json[i] = '\x01';
        } else if (json[i] == '\\' && i + 1 < len) {
            if (json[i + 1] == 'u' && i + 5 < len && memcmp(json + i + 2, "0000", 4) == 0)
                json[i + 5] = '1'; /* \u0000 becomes \u0001 */
            i++;                   /* the escaped character never starts another escape */
        }
    }
}

/* The words for what can be wrong with a header's or a trailer's JSON. */
struct json_problems {
    const char *not_json, *bytes_after, *not_object;
};

static const struct json_problems header_problems = {
    "the header is not JSON",
    "the header has bytes after its JSON value",
    "the header is not a JSON object",
};

static const struct json_problems trailer_problems = {
    "the trailer is not JSON",
    "the trailer has bytes after its JSON value",
    "the trailer is not a JSON object",
};

/* Parses len bytes of JSON that must be one object, and nothing after it. Returns NULL and
 * sets *root (cJSON_Delete() it), or says what is wrong, in the words of problems. */
static const char *parse_object(const char *json, size_t len, const struct json_problems *problems,
                                cJSON **root)
{
    char *text = malloc(len > 0 ? len : 1);
    if (text == NULL)
        return "the server is out of memory";
    memcpy(text, json, len);
    make_nuls_visible(text, len);

    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    const char *problem = NULL;
    if (*root == NULL)
        problem = problems->not_json;
    /* Only white space may follow the JSON value: anything else means the sender and we
     * disagree about where the header ends. */
    for (const char *c = end; problem == NULL && c < text + len; c++)
        if (!is_json_space(*c))
            problem = problems->bytes_after;
    if (problem == NULL && !cJSON_IsObject(*root))
        problem = problems->not_object;
    free(text);
    if (problem != NULL) {
        cJSON_Delete(*root);
        *root = NULL;
    }
    return problem;
}

const char *upload_header_parse(const char *json, size_t len, struct upload_header *header)
{
    cJSON *root;
    const char *problem = parse_object(json, len, &header_problems, &root);
    if (problem == NULL)
        problem = header_fields(root, header);
    cJSON_Delete(root);
    return problem;
}

const char *upload_trailer_parse(const char *json, size_t len, unsigned char sha256[SHA256_LEN])
{
    cJSON *root;
    const char *problem = parse_object(json, len, &trailer_problems, &root);
    if (problem == NULL)
        problem = trailer_fields(root, sha256);
    cJSON_Delete(root);
    return problem;
}

void hex_encode(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    out[2 * n] = '\0';
}

const char *describe_bytes(const void *data, size_t len, char text[MESSAGE_TEXT_LEN])
{
    enum { SHOWN = 64 };
    const unsigned char *bytes = data;
    size_t at = 0;
    text[at++] = '"';
    for (size_t i = 0; i < len && i < SHOWN; i++) {
        unsigned char c = bytes[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            text[at++] = (char)c;
        else
            at += (size_t)snprintf(text + at, MESSAGE_TEXT_LEN - at, "\\x%02x", c);
    }
    text[at++] = '"';
    snprintf(text + at, MESSAGE_TEXT_LEN - at, "%s", len > SHOWN ? "..." : "");
    return text;
}
