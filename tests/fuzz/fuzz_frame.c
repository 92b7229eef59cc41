/* fuzz_frame.c - a libFuzzer target for lab 09's decoding: frames, upload headers and
 * upload trailers.
 *
 * Every byte a peer sends reaches the server through recv_frame() and, in upload mode,
 * upload_header_parse() and upload_trailer_parse(). So the fuzzer plays the peer: its input
 * is written into one end of a socketpair, and the real recv_frame() reads frames from the
 * other end until the stream ends, each frame then parsed as an upload header and as an
 * upload trailer - with AddressSanitizer and UndefinedBehaviorSanitizer watching every read,
 * write and shift. The whole input is also parsed as a header and as a trailer directly, so
 * the fuzzer reaches the JSON checks without having to find a valid length prefix first.
 *
 * The first byte chooses the limit: the echo limit (1 MiB) when it is odd, the header limit
 * (4096) when it is even. Built and run by CTest (cmake/fuzz.cmake, tests/fuzz/run.sh). */
#include "frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_header(const char *json, size_t len)
{
    struct upload_header header;
    if (upload_header_parse(json, len, &header) == NULL) {
        /* A header that passes must be what the server relies on. */
        if (file_name_problem(header.name) != NULL || header.size > MAX_FILE_SIZE)
            abort();
    }
}

static void parse_trailer(const char *json, size_t len)
{
    unsigned char sha256[SHA256_LEN];
    const char *problem = upload_trailer_parse(json, len, sha256);
    /* Either a digest (all 32 bytes written: ASan and UBSan would see a read of the rest
     * otherwise) or a reason, never a crash. */
    if (problem == NULL) {
        unsigned sum = 0;
        for (size_t i = 0; i < SHA256_LEN; i++)
            sum += sha256[i];
        (void)sum;
    }
}

static void read_frames(const uint8_t *data, size_t size, uint32_t max)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1)
        abort();
    /* Inputs are at most a few KiB (-max_len): they fit in the socket buffer at once. */
    if (size > 0 && send_all(fds[1], data, size) == -1)
        abort();
    shutdown(fds[1], SHUT_WR);
    for (;;) {
        char *payload = NULL;
        uint32_t len = 0;
        enum frame_status status = recv_frame(fds[0], max, &payload, &len);
        if (status != FRAME_OK)
            break;
        if (len > max || payload[len] != '\0')
            abort();
        parse_header(payload, len);
        parse_trailer(payload, len);
        free(payload);
    }
    close(fds[0]);
    close(fds[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint32_t max = data[0] & 1 ? MAX_FRAME_LEN : MAX_HEADER_LEN;
    read_frames(data + 1, size - 1, max);

    char *json = malloc(size + 1); /* NUL-terminated, as recv_frame() delivers a header */
    if (json == NULL)
        return 0;
    memcpy(json, data, size);
    json[size] = '\0';
    parse_header(json, size);
    parse_trailer(json, size);
    free(json);
    return 0;
}
