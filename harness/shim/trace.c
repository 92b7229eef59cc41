/* trace.c - an LD_PRELOAD tracer: one line for each socket call of the program under test.
 *
 * When a check fails, the harness shows the conversation: which calls the student's program
 * made, what each asked for and what it got back, merged with what the harness's peers did,
 * on one clock (CLOCK_MONOTONIC, which is Python's time.monotonic_ns()). "Your recv() returned
 * 3 of the 10 bytes" is worth more than any hint.
 *
 * With SOCKLAB_TRACE=DIR in the environment, each process appends to DIR/PID.trace lines of
 *     TIME_NS CALL FD ASKED RETURNED ERRNO DETAIL
 * (ASKED is - where a call asks for no size; ERRNO is 0 on success; DETAIL is an address, a
 * socket option, or the first bytes moved, escaped). A file stops growing at TRACE_LIMIT
 * bytes, with a last line saying so. Calls traced: socket, bind, listen, accept, accept4,
 * connect, shutdown, setsockopt, close (of a socket), and every send-type and recv-type call
 * on a socket (send, sendto, sendmsg, write, writev; recv, recvfrom, recvmsg, read, readv).
 * read() and write() on files and pipes are not traced: the tracer remembers which
 * descriptors are sockets (those it saw made), so that a printf costs no extra system call.
 * A call that acts on the peer (connect, send-type calls, shutdown, close) is timed when it
 * begins, as the harness's peers time theirs: its bytes may be received, and the peer's recv()
 * return, before it returns here. Every other call is timed when it returns. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { TRACE_LIMIT = 256 * 1024, MAX_FD = 4096, PREVIEW = 24 };

static atomic_int trace_fd = -1;
static atomic_int trace_pid; /* the process the file belongs to: a child opens its own */
static atomic_long written;
static atomic_uchar is_socket[MAX_FD];

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

/* The file of this process, opened on first use (and again after a fork). */
static int trace_file(void)
{
    const char *dir = getenv("SOCKLAB_TRACE");
    if (dir == NULL)
        return -1;
    int pid = (int)getpid();
    if (atomic_load(&trace_pid) == pid)
        return atomic_load(&trace_fd);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%d.trace", dir, pid) >= (int)sizeof path)
        return -1;
    int fd =
        (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    atomic_store(&trace_fd, fd);
    atomic_store(&written, 0);
    atomic_store(&trace_pid, pid);
    return fd;
}

static long long now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

enum { AT_RETURN = 0 }; /* the `began` of a call timed when it returns */

/* Writes one line with a raw system call: never through write(), which we trace.
 * began: when the call began (now_ns() before it), or AT_RETURN. */
static void emit(long long began, const char *call, int fd, long asked, long returned, int error,
                 const char *detail)
{
    int saved = errno;
    int out = trace_file();
    if (out >= 0 && atomic_load(&written) < TRACE_LIMIT) {
        char line[512];
        int n = snprintf(line, sizeof line, "%lld %s %d %ld %ld %d %s\n",
                         began != AT_RETURN ? began : now_ns(), call, fd, asked, returned, error,
                         detail != NULL && *detail ? detail : "-");
        if (n > (int)sizeof line)
            n = sizeof line;
        if (atomic_fetch_add(&written, n) + n >= TRACE_LIMIT)
            n = snprintf(line, sizeof line, "0 truncated -1 -1 -1 0 the-trace-is-full\n");
        syscall(SYS_write, out, line, (size_t)n);
    }
    errno = saved;
}

static void mark(int fd, int socket)
{
    if (fd >= 0 && fd < MAX_FD)
        atomic_store(&is_socket[fd], (unsigned char)socket);
}

static int known_socket(int fd)
{
    return fd >= 0 && fd < MAX_FD && atomic_load(&is_socket[fd]);
}

/* The first bytes moved (of len), as printable text: \n, \r, \t, \0 and \xNN for the rest,
 * "..." when there were more. */
static void preview(char *out, size_t size, const void *data, long len)
{
    const unsigned char *p = data;
    size_t used = 0;
    out[0] = '\0';
    if (p == NULL || len <= 0 || size < 16)
        return;
    used += (size_t)snprintf(out, size, "\"");
    for (long i = 0; i < len && i < PREVIEW && used + 6 < size; i++) {
        unsigned char c = p[i];
        if (c == '\n' || c == '\r' || c == '\t' || c == '\0')
            used += (size_t)snprintf(out + used, size - used, "\\%c",
                                     c == '\n'   ? 'n'
                                     : c == '\r' ? 'r'
                                     : c == '\t' ? 't'
                                                 : '0');
        else if (c == '"' || c == '\\')
            used += (size_t)snprintf(out + used, size - used, "\\%c", c);
        else if (c > ' ' && c < 127)
            out[used++] = (char)c, out[used] = '\0';
        else
            used += (size_t)snprintf(out + used, size - used, "\\x%02x", c);
    }
    snprintf(out + used, size - used, len > PREVIEW ? "\"..." : "\"");
}

/* The same, for the bytes an iovec array moved: its first PREVIEW bytes, gathered. */
static void preview_iov(char *out, size_t size, const struct iovec *iov, int count, long len)
{
    unsigned char first[PREVIEW];
    long taken = 0;
    for (int i = 0; iov != NULL && i < count && taken < PREVIEW && taken < len; i++) {
        long part = (long)iov[i].iov_len;
        if (part > PREVIEW - taken)
            part = PREVIEW - taken;
        memcpy(first + taken, iov[i].iov_base, (size_t)part);
        taken += part;
    }
    preview(out, size, first, len);
}

static void address(char *out, size_t size, const struct sockaddr *sa, socklen_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa == NULL || len == 0) {
        snprintf(out, size, "-");
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, size, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, size, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(out, size, "family-%d", sa->sa_family);
    }
}

#define ERR(ret) ((ret) < 0 ? errno : 0)

/* -- making and naming sockets -------------------------------------------------------------- */

int socket(int domain, int type, int protocol)
{
    int fd = REAL(socket)(domain, type, protocol);
    int error = ERR(fd);
    mark(fd, 1);
    char detail[64];
    snprintf(detail, sizeof detail, "%s",
             (type & 0xf) == SOCK_STREAM  ? "stream"
             : (type & 0xf) == SOCK_DGRAM ? "datagram"
                                          : "other");
    errno = error;
    emit(AT_RETURN, "socket", fd, -1, fd, error, detail);
    return fd;
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    int ret = REAL(bind)(fd, sa, len);
    char detail[80];
    address(detail, sizeof detail, sa, len);
    emit(AT_RETURN, "bind", fd, -1, ret, ERR(ret), detail);
    return ret;
}

int listen(int fd, int backlog)
{
    int ret = REAL(listen)(fd, backlog);
    emit(AT_RETURN, "listen", fd, backlog, ret, ERR(ret), NULL);
    return ret;
}

static int accepted(const char *call, int fd, int ret, const struct sockaddr *sa,
                    const socklen_t *len)
{
    int error = ERR(ret);
    mark(ret, 1);
    char detail[80] = "-";
    if (ret >= 0 && len != NULL)
        address(detail, sizeof detail, sa, *len);
    errno = error;
    emit(AT_RETURN, call, fd, -1, ret, error, detail);
    return ret;
}

int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return accepted("accept", fd, REAL(accept)(fd, sa, len), sa, len);
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    return accepted("accept4", fd, REAL(accept4)(fd, sa, len, flags), sa, len);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    long long began = now_ns();
    int ret = REAL(connect)(fd, sa, len);
    char detail[80];
    address(detail, sizeof detail, sa, len);
    emit(began, "connect", fd, -1, ret, ERR(ret), detail);
    return ret;
}

int shutdown(int fd, int how)
{
    long long began = now_ns();
    int ret = REAL(shutdown)(fd, how);
    emit(began, "shutdown", fd, -1, ret, ERR(ret),
         how == SHUT_WR   ? "write"
         : how == SHUT_RD ? "read"
                          : "both");
    return ret;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    int ret = REAL(setsockopt)(fd, level, name, value, len);
    char detail[48];
    snprintf(detail, sizeof detail, "level-%d-option-%d", level, name);
    if (level == SOL_SOCKET && name == SO_REUSEADDR)
        snprintf(detail, sizeof detail, "SO_REUSEADDR");
    else if (level == SOL_SOCKET && name == SO_RCVTIMEO)
        snprintf(detail, sizeof detail, "SO_RCVTIMEO");
    else if (level == SOL_SOCKET && name == SO_SNDTIMEO)
        snprintf(detail, sizeof detail, "SO_SNDTIMEO");
    else if (level == SOL_SOCKET && name == SO_LINGER)
        snprintf(detail, sizeof detail, "SO_LINGER");
    emit(AT_RETURN, "setsockopt", fd, -1, ret, ERR(ret), detail);
    return ret;
}

int close(int fd)
{
    int traced = known_socket(fd);
    mark(fd, 0);
    long long began = now_ns();
    int ret = REAL(close)(fd);
    if (traced)
        emit(began, "close", fd, -1, ret, ERR(ret), NULL);
    return ret;
}

/* -- moving bytes ------------------------------------------------------------------------- */

static ssize_t moved(long long began, const char *call, int fd, size_t asked, ssize_t ret,
                     const void *data)
{
    int error = ERR(ret);
    char detail[PREVIEW * 4 + 8];
    preview(detail, sizeof detail, data, (long)ret);
    errno = error;
    emit(began, call, fd, (long)asked, (long)ret, error, detail);
    return ret;
}

static ssize_t moved_iov(long long began, const char *call, int fd, const struct iovec *iov,
                         int count, ssize_t ret)
{
    int error = ERR(ret);
    long asked = 0;
    for (int i = 0; iov != NULL && i < count; i++)
        asked += (long)iov[i].iov_len;
    char detail[PREVIEW * 4 + 8];
    preview_iov(detail, sizeof detail, iov, count, (long)ret);
    errno = error;
    emit(began, call, fd, asked, (long)ret, error, detail);
    return ret;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    long long began = now_ns();
    return moved(began, "send", fd, len, REAL(send)(fd, buf, len, flags), buf);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
               socklen_t tolen)
{
    long long began = now_ns();
    return moved(began, "sendto", fd, len, REAL(sendto)(fd, buf, len, flags, to, tolen), buf);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return moved(AT_RETURN, "recv", fd, len, REAL(recv)(fd, buf, len, flags), buf);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                 socklen_t *fromlen)
{
    return moved(AT_RETURN, "recvfrom", fd, len, REAL(recvfrom)(fd, buf, len, flags, from, fromlen),
                 buf);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    long long began = now_ns();
    ssize_t ret = REAL(write)(fd, buf, len);
    return known_socket(fd) ? moved(began, "write", fd, len, ret, buf) : ret;
}

ssize_t read(int fd, void *buf, size_t len)
{
    ssize_t ret = REAL(read)(fd, buf, len);
    return known_socket(fd) ? moved(AT_RETURN, "read", fd, len, ret, buf) : ret;
}

ssize_t writev(int fd, const struct iovec *iov, int count)
{
    long long began = now_ns();
    ssize_t ret = REAL(writev)(fd, iov, count);
    return known_socket(fd) ? moved_iov(began, "writev", fd, iov, count, ret) : ret;
}

ssize_t readv(int fd, const struct iovec *iov, int count)
{
    ssize_t ret = REAL(readv)(fd, iov, count);
    return known_socket(fd) ? moved_iov(AT_RETURN, "readv", fd, iov, count, ret) : ret;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    long long began = now_ns();
    ssize_t ret = REAL(sendmsg)(fd, msg, flags);
    return msg == NULL ? ret
                       : moved_iov(began, "sendmsg", fd, msg->msg_iov, (int)msg->msg_iovlen, ret);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t ret = REAL(recvmsg)(fd, msg, flags);
    return msg == NULL
               ? ret
               : moved_iov(AT_RETURN, "recvmsg", fd, msg->msg_iov, (int)msg->msg_iovlen, ret);
}

/* Fortified builds (cmake/flags.cmake) call these for recv(), recvfrom() and read() when the
 * compiler knows the buffer's size: glibc checks the size, then reads without the above. */
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    return moved(AT_RETURN, "recv", fd, len, REAL(__recv_chk)(fd, buf, len, buflen, flags), buf);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen)
{
    return moved(AT_RETURN, "recvfrom", fd, len,
                 REAL(__recvfrom_chk)(fd, buf, len, buflen, flags, from, fromlen), buf);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    ssize_t ret = REAL(__read_chk)(fd, buf, len, buflen);
    return known_socket(fd) ? moved(AT_RETURN, "read", fd, len, ret, buf) : ret;
}
