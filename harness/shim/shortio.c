/* shortio.c - an LD_PRELOAD shim that makes short reads and short writes happen on demand.
 *
 * On Linux a blocking send() of a few kilobytes practically never returns short, and recv()
 * on loopback often returns a whole message - so code that ignores their return values looks
 * right until it meets a real network. With SOCKLAB_SHORT_IO=N in the environment, every
 * send/write/recv/read (and sendto/recvfrom) on a stream socket moves at most N bytes per
 * call, deterministically. Datagram sockets are left alone: capping them would truncate
 * datagrams, which is not what a short read means. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t cap_for(int fd, size_t len)
{
    static size_t limit; /* 0: not read yet; SIZE_MAX: off */
    if (limit == 0) {
        const char *text = getenv("SOCKLAB_SHORT_IO");
        long value = text != NULL ? strtol(text, NULL, 10) : 0;
        limit = value > 0 ? (size_t)value : (size_t)-1;
    }
    if (len <= limit)
        return len;
    int type;
    socklen_t size = sizeof type;
    int saved = errno; /* getsockopt() on a pipe or file sets ENOTSOCK: not our business */
    int is_stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == SOCK_STREAM;
    errno = saved;
    return is_stream ? limit : len;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return REAL(send)(fd, buf, cap_for(fd, len), flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
               socklen_t tolen)
{
    return REAL(sendto)(fd, buf, cap_for(fd, len), flags, to, tolen);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    return REAL(write)(fd, buf, cap_for(fd, len));
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return REAL(recv)(fd, buf, cap_for(fd, len), flags);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                 socklen_t *fromlen)
{
    return REAL(recvfrom)(fd, buf, cap_for(fd, len), flags, from, fromlen);
}

ssize_t read(int fd, void *buf, size_t len)
{
    return REAL(read)(fd, buf, cap_for(fd, len));
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
    return REAL(__recv_chk)(fd, buf, len > buflen ? len : cap_for(fd, len), buflen, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen)
{
    return REAL(__recvfrom_chk)(fd, buf, len > buflen ? len : cap_for(fd, len), buflen, flags,
                                from, fromlen);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    return REAL(__read_chk)(fd, buf, len > buflen ? len : cap_for(fd, len), buflen);
}
