/* stop.c - ending a server cleanly on SIGTERM or SIGINT.
 *
 * The obvious way - a handler that sets a flag, and a loop that checks it before each
 * accept() - has a hole: a signal that lands after the check but before accept() starts
 * is noticed only when the next client comes, which may be never. So the two signals stay
 * blocked all the time, and are let in only while we wait, by ppoll(), which unblocks them
 * and waits in one atomic step. A stop then always ends the wait at once. */
#define _GNU_SOURCE /* ppoll() */
#include "socklab.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

static volatile sig_atomic_t stop_flag;
static sigset_t mask_while_waiting; /* the signal mask we had before blocking the two */

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_flag = 1;
}

void stop_on_signals(void)
{
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    /* Threads created later inherit this mask, so only a thread inside wait_readable()
     * (the one waiting to accept) ever runs the handler. */
    if (sigprocmask(SIG_BLOCK, &stop_signals, &mask_while_waiting) == -1 ||
        sigaction(SIGTERM, &action, NULL) == -1 || sigaction(SIGINT, &action, NULL) == -1)
        die_errno("cannot install the SIGTERM/SIGINT handlers");
    sigdelset(&mask_while_waiting, SIGTERM);
    sigdelset(&mask_while_waiting, SIGINT);
}

/* When fd is ready at once, ppoll() returns without letting a pending signal in (it puts the
 * old mask back first): a socket that is always readable would hide SIGTERM for ever. */
static bool stop_pending(void)
{
    sigset_t pending;
    if (sigpending(&pending) == -1)
        return false;
    if (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1)
        stop_flag = 1;
    return stop_flag != 0;
}

bool stop_requested(void)
{
    return stop_flag != 0;
}

enum wait_result wait_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    struct timespec limit = {.tv_sec = timeout_ms / 1000, .tv_nsec = timeout_ms % 1000 * 1000000L};
    for (;;) {
        if (stop_flag)
            return WAIT_STOPPED;
        int n = ppoll(&pfd, 1, timeout_ms < 0 ? NULL : &limit, &mask_while_waiting);
        if (n > 0 && stop_pending())
            return WAIT_STOPPED;
        if (n > 0)
            return WAIT_READABLE; /* or an error/hang-up: the next recv() reports it */
        if (n == 0)
            return WAIT_TIMEOUT;
        if (errno != EINTR)
            return WAIT_ERROR;
    }
}
