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
