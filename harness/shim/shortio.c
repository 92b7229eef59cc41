/* shortio.c - an LD_PRELOAD shim that makes short reads and short writes happen on demand.
 *
 * On Linux a blocking send() of a few kilobytes practically never returns short, and recv()
 * on loopback often returns a whole message - so code that ignores their return values looks
 * right until it meets a real network. With this shim preloaded, every call on a stream
 * socket moves at most a few bytes, as SOCKLAB_SHORT_IO says:
 *
 *   SOCKLAB_SHORT_IO=7                           every send and every recv: at most 7 bytes
 *   SOCKLAB_SHORT_IO=send=3,recv=4096,seed=12    send-type calls at most 3, recv-type at most
 *                                                4096; with a seed, each call draws its own
 *                                                cap between 1 and that, from a PRNG
 *
 * The two sides are capped apart on purpose: a server that echoes what one recv() returned
 * with one unchecked send() gets away with it when both are cut to the same size, and is
 * caught when its sends are cut smaller than its reads. A side left out is not capped.
 * Send-type calls: send, sendto, sendmsg, write, writev. Recv-type: recv, recvfrom, recvmsg,
 * read, readv. Datagram sockets, pipes and files are left alone: capping a datagram would
 * truncate it, which is not what a short read means. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum { SEND, RECV };
enum { IOV_COPY = 64 }; /* iovecs we copy at most; a shorter transfer is still a valid one */

static size_t most[2]; /* the cap of each side; 0: not capped */
static bool varies;    /* a seed was given: each call draws its cap in 1..most */
static uint64_t seed;

/* Reads SOCKLAB_SHORT_IO once, before main(). What cannot be parsed is not capped. */
__attribute__((constructor)) static void read_spec(void)
{
    const char *text = getenv("SOCKLAB_SHORT_IO");
    if (text == NULL)
        return;
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    if (end != text && *end == '\0') { /* a plain number: the same cap on both sides */
        most[SEND] = most[RECV] = (size_t)n;
        return;
    }
    while (*text != '\0') {
        size_t key = strcspn(text, "=,");
        if (text[key] == '=') {
            n = strtoull(text + key + 1, &end, 10);
            if (key == 4 && strncmp(text, "send", 4) == 0)
                most[SEND] = (size_t)n;
            else if (key == 4 && strncmp(text, "recv", 4) == 0)
                most[RECV] = (size_t)n;
            else if (key == 4 && strncmp(text, "seed", 4) == 0)
                varies = true, seed = n; /* a seed: caps that vary per call */
            text = end;
        } else {
            text += key;
        }
        text += strcspn(text, ","); /* skip anything else up to the next item */
        if (*text == ',')
            text++;
    }
}

/* splitmix64, one sequence per thread so that threads need no lock: the same program making
 * the same calls draws the same caps, run after run. */
static size_t draw(size_t cap)
{
    static _Thread_local uint64_t state;
    static _Thread_local bool started;
    if (!started)
        state = seed, started = true;
    uint64_t z = (state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return 1 + (size_t)((z ^ (z >> 31)) % cap);
}

/* How many of len bytes this call on fd may move. */
static size_t cap_for(int fd, size_t len, int side)
{
    size_t cap = most[side];
    if (cap == 0 || len <= (varies ? 1 : cap))
        return len;
    int type;
    socklen_t size = sizeof type;
    int saved = errno; /* getsockopt() on a pipe or file sets ENOTSOCK: not our business */
    int is_stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == SOCK_STREAM;
    errno = saved;
    if (!is_stream)
        return len;
    if (varies)
        cap = draw(cap);
    return len < cap ? len : cap;
}

/* For the iovec calls: copies into out the non-empty iovecs of in that hold the first
 * cap_for() bytes, the last one shortened. The caller's array is never changed. Returns how
 * many, or -1 when the call is not to be shortened (then pass the caller's array on). */
static int trim_iov(int fd, const struct iovec *in, size_t count, int side, struct iovec *out)
{
    if (in == NULL || count > IOV_MAX)
        return -1; /* the real call reports the error */
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (in[i].iov_len > SSIZE_MAX - total)
            return -1; /* too much for one call: the real call reports the error */
        total += in[i].iov_len;
    }
    size_t cap = cap_for(fd, total, side);
    if (cap == total)
        return -1;
    int n = 0;
    for (size_t i = 0; i < count && n < IOV_COPY && cap > 0; i++) {
        if (in[i].iov_len == 0)
            continue;
        out[n] = in[i];
        if (out[n].iov_len > cap)
            out[n].iov_len = cap;
        cap -= out[n++].iov_len;
    }
    return n;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return REAL(send)(fd, buf, cap_for(fd, len, SEND), flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
               socklen_t tolen)
{
    return REAL(sendto)(fd, buf, cap_for(fd, len, SEND), flags, to, tolen);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    return REAL(write)(fd, buf, cap_for(fd, len, SEND));
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return REAL(recv)(fd, buf, cap_for(fd, len, RECV), flags);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                 socklen_t *fromlen)
{
    return REAL(recvfrom)(fd, buf, cap_for(fd, len, RECV), flags, from, fromlen);
}

ssize_t read(int fd, void *buf, size_t len)
{
    return REAL(read)(fd, buf, cap_for(fd, len, RECV));
}

ssize_t writev(int fd, const struct iovec *iov, int count)
{
    struct iovec copy[IOV_COPY];
    int n = trim_iov(fd, iov, (size_t)count, SEND, copy);
    return n < 0 ? REAL(writev)(fd, iov, count) : REAL(writev)(fd, copy, n);
}

ssize_t readv(int fd, const struct iovec *iov, int count)
{
    struct iovec copy[IOV_COPY];
    int n = trim_iov(fd, iov, (size_t)count, RECV, copy);
    return n < 0 ? REAL(readv)(fd, iov, count) : REAL(readv)(fd, copy, n);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct iovec copy[IOV_COPY];
    int n = msg == NULL ? -1 : trim_iov(fd, msg->msg_iov, msg->msg_iovlen, SEND, copy);
    if (n < 0)
        return REAL(sendmsg)(fd, msg, flags);
    struct msghdr mine = *msg;
    mine.msg_iov = copy;
    mine.msg_iovlen = (size_t)n;
    return REAL(sendmsg)(fd, &mine, flags);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct iovec copy[IOV_COPY];
    int n = msg == NULL ? -1 : trim_iov(fd, msg->msg_iov, msg->msg_iovlen, RECV, copy);
    if (n < 0)
        return REAL(recvmsg)(fd, msg, flags);
    struct msghdr mine = *msg;
    mine.msg_iov = copy;
    mine.msg_iovlen = (size_t)n;
    ssize_t got = REAL(recvmsg)(fd, &mine, flags);
    /* what the kernel tells the caller, in the caller's msghdr (errno is left as it was) */
    msg->msg_namelen = mine.msg_namelen;
    msg->msg_controllen = mine.msg_controllen;
    msg->msg_flags = mine.msg_flags;
    return got;
}

/* The lab programs are built with _FORTIFY_SOURCE (cmake/flags.cmake): where the compiler
 * knows the size of the buffer, recv(), recvfrom() and read() become calls to glibc's
 * __recv_chk(), __recvfrom_chk() and __read_chk(), which check len against that size and then
 * read without going through the functions above. So those are capped too; a len over the
 * buffer's size goes to glibc unchanged, which aborts the program as it would without us. */
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    return REAL(__recv_chk)(fd, buf, len > buflen ? len : cap_for(fd, len, RECV), buflen, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen)
{
    return REAL(__recvfrom_chk)(fd, buf, len > buflen ? len : cap_for(fd, len, RECV), buflen, flags,
                                from, fromlen);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    return REAL(__read_chk)(fd, buf, len > buflen ? len : cap_for(fd, len, RECV), buflen);
}
