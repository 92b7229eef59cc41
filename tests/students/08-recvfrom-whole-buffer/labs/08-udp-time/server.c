/* Lab 08 server: tell the time over UDP, in whatever format the client asks for.
 *
 * The conversation is one datagram each way. The request is a strftime() format, such as
 * "%H:%M"; the reply is the server's local time written in that format ("14:05"). An empty
 * request means the default format, "%Y-%m-%d %H:%M:%S". A request the server cannot answer
 * gets a reply starting with "error:", and the server goes on with the next one. It runs
 * until SIGTERM or Ctrl-C.
 *
 * The request comes from anyone who can send us a datagram, so the server trusts none of it:
 *   - it never writes past a buffer, however long the datagram (receive_request);
 *   - it accepts only short formats made of conversions POSIX defines (check_format):
 *     strftime() with an unknown conversion is undefined behaviour;
 *   - it bounds what a format may expand to (format_time): 128 bytes of "%c" would be 1.5 KB;
 *   - it answers the address each request came from, whoever that is (serve).
 *
 * The life of a UDP server: getaddrinfo, socket, bind, then recvfrom and sendto, forever.
 * There is no listen() and no accept(): one socket talks to every client. */
#include "socklab.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    FORMAT_MAX = 256,   /* longest format we accept, in bytes */
    REQUEST_BUF = 1024, /* what we receive: more than FORMAT_MAX, so a longer one shows */
    RESULT_MAX = 1024,  /* longest reply we send, in bytes */
};

static const char DEFAULT_FORMAT[] = "%Y-%m-%d %H:%M:%S";

/* The conversions POSIX defines for strftime(), without the E and O modifiers or flags. */
static const char CONVERSIONS[] = "aAbBcCdDeFgGhHIjmMnprRStTuUVwWxXyYzZ%";

/* Step 1: a UDP socket bound to host:port. Exits with a message if there is none. */
static int open_socket(const char *host, const char *port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_DGRAM,
        .ai_flags = AI_PASSIVE,
    };
    struct addrinfo *addrs;
    int rc = getaddrinfo(host, port, &hints, &addrs);
    if (rc != 0)
        die("cannot listen on %s port %s: %s", host, port, gai_strerror(rc));
    int fd = -1;
    for (struct addrinfo *ai = addrs; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1)
            continue;
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        int saved = errno;
        close(fd);
        fd = -1;
        errno = saved;
    }
    freeaddrinfo(addrs);
    if (fd == -1)
        die_errno("cannot listen on %s port %s", host, port);
    return fd;
}

/* With -p 0 the OS chose the port; getsockname() tells us which one it was. */
static void print_listening_address(int fd)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &len) == -1)
        die_errno("getsockname");
    char text[ADDR_TEXT_LEN];
    printf("listening on %s\n", addr_to_text((struct sockaddr *)&local, len, text));
}

/* Step 2: the next datagram, into request[0..cap), and who sent it. A datagram longer than
 * we ask for is cut short and the rest is lost (UDP keeps no leftovers for the next call), so
 * we ask for cap - 1 bytes at most: the last byte is the room for the NUL that ends the
 * string. Asking for cap bytes would let a datagram of exactly cap bytes fill the buffer, and
 * request[len] = '\0' would then write one byte past its end. Returns the length, or -1 for a
 * datagram lost on the way in (nothing to answer). */
static ssize_t receive_request(int fd, char *request, size_t cap, struct sockaddr_storage *peer,
                               socklen_t *peer_len)
{
    *peer_len = sizeof *peer;
    ssize_t len = recvfrom(fd, request, cap, 0, (struct sockaddr *)peer, peer_len);
    if (len == -1) {
        if (errno != EINTR)
            warn_errno("recvfrom");
        return -1;
    }
    request[len] = '\0';
    return len;
}

/* Step 3: NULL if the format is one we are willing to hand to strftime(), otherwise the
 * error reply that says why not. len is the datagram's length, not strlen(): the bytes come
 * from the network, and a NUL inside them would hide the rest from every string function. */
static const char *check_format(const char *format, size_t len)
{
    (void)CONVERSIONS; /* your code uses it; until then, this line keeps the compiler quiet */
    if (len > FORMAT_MAX)
        return "error: the format is longer than 256 bytes";
    if (memchr(format, '\0', len) != NULL)
        return "error: the format contains a NUL byte";
    for (size_t i = 0; i < len; i++) {
        if (format[i] != '%')
            continue;
        if (i + 1 == len)
            return "error: the format ends with a lone '%'";
        if (strchr(CONVERSIONS, format[i + 1]) == NULL)
            return "error: unknown conversion: '%' must be followed by one of "
                   "aAbBcCdDeFgGhHIjmMnprRStTuUVwWxXyYzZ%";
        i++; /* skip the conversion character, so %% is not read twice */
    }
    return NULL;
}

/* Step 4: the local time in the given format, into result[0..cap). Returns the length of
 * the time, or -1 if it does not fit in cap - 2 bytes.
 *
 * strftime() returns 0 both when the result does not fit and when the result is empty ("%Z"
 * in a time zone without a name, "%p" in some languages), and in the first case it leaves
 * the buffer undefined. So we put a space in front of the format: the result then has at
 * least that one byte, 0 can only mean "does not fit", and we drop the space afterwards.
 * That space costs one byte of cap, the NUL another. */
static ssize_t format_time(const char *format, char *result, size_t cap)
{
    char padded[1 + FORMAT_MAX + 1];
    snprintf(padded, sizeof padded, " %s", format);
    time_t now = time(NULL);
    if (now == (time_t)-1)
        return -1;
    struct tm local;
    if (localtime_r(&now, &local) == NULL)
        return -1;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t len = strftime(result, cap, padded, &local);
#pragma GCC diagnostic pop
    if (len == 0)
        return -1;
    memmove(result, result + 1, len);
    return (ssize_t)len - 1;
}

/* The reply to one request, into reply[0..cap): the time, or an error. Returns its length.
 * cap is 1 + RESULT_MAX + 1 (format_time's space, the time, the NUL): that is what bounds
 * the time to RESULT_MAX bytes, the number in the last message below. */
static size_t answer(const char *request, size_t len, char *reply, size_t cap)
{
    const char *error = check_format(request, len);
    if (error == NULL) {
        ssize_t n = format_time(len == 0 ? DEFAULT_FORMAT : request, reply, cap);
        if (n >= 0)
            return (size_t)n;
        error = "error: the result is longer than 1024 bytes";
    }
    snprintf(reply, cap, "%s", error);
    return strlen(reply);
}

/* Step 5: the request loop. One socket serves every client: each recvfrom() says who sent
 * the datagram, and the reply goes back to exactly that address, in one sendto(): one
 * datagram is one message, so a reply in two sendto()s would be two replies. */
static void serve(int fd, char *request, size_t cap)
{
    for (;;) {
        enum wait_result ready = wait_readable(fd, -1);
        if (ready == WAIT_STOPPED)
            return;
        if (ready == WAIT_ERROR)
            die_errno("poll");
        struct sockaddr_storage peer;
        socklen_t peer_len;
        ssize_t len = receive_request(fd, request, cap, &peer, &peer_len);
        if (len == -1)
            continue;
        char reply[1 + RESULT_MAX + 1];
        size_t reply_len = answer(request, (size_t)len, reply, sizeof reply);
        char text[ADDR_TEXT_LEN];
        addr_to_text((struct sockaddr *)&peer, peer_len, text);
        if (sendto(fd, reply, reply_len, 0, (struct sockaddr *)&peer, peer_len) == -1) {
            warn_errno("send to %s", text);
            continue;
        }
        if (reply_len >= 6 && memcmp(reply, "error:", 6) == 0)
            printf("request from %s: sent %.*s\n", text, (int)reply_len, reply);
        else
            printf("request from %s: sent %zu bytes\n", text, reply_len);
    }
}

int main(int argc, char **argv)
{
    struct cli cli = {
        .summary = "Tell the time over UDP, in the strftime format each request asks for.",
        .host_help = "address to listen on",
        .default_host = "127.0.0.1",
        .port_help = "port to listen on; 0 lets the OS choose",
        .default_port = "9008",
        .port_may_be_zero = true,
    };
    cli_parse(&cli, argc, argv);
    stop_on_signals();
    /* localtime_r() need not read TZ (localtime() must): tzset() reads it once for both. */
    tzset();

    /* On the heap, so that valgrind watches its edges: a byte written past its end is
     * reported at once, where on the stack it would quietly overwrite a neighbour. */
    char *request = malloc(REQUEST_BUF);
    if (request == NULL)
        die("out of memory");
    int fd = open_socket(cli.host, cli.port);
    print_listening_address(fd);
    serve(fd, request, REQUEST_BUF);
    close(fd);
    free(request);
    printf("stopped\n");
    return 0;
}
