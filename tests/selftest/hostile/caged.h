/* caged.h - the safety catch of every attack in this corpus.
 *
 * These programs attack the grader on purpose (tests/selftest/test_sandbox.py grades them).
 * So that a sandbox bug cannot harm the machine, an attack acts only when it finds itself
 * caged: an unprivileged uid, early in a pid namespace of its own whose init is bwrap. Outside one,
 * it prints "hostile: not caged" and does nothing, and the self-test fails on that line. Every
 * attack also arms an alarm and caps its loops and sizes. @NAME@-style words are filled in by the
 * test (paths of this machine, the marker it looks for). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ATTACK_SECONDS 20

/* 1 when this process runs early in a pid namespace whose init is bwrap's: the sandbox. */
static int in_pid_namespace(void)
{
    char init[32] = "";
    FILE *comm = fopen("/proc/1/comm", "r");
    if (comm != NULL) {
        if (fgets(init, sizeof init, comm) == NULL)
            init[0] = '\0';
        fclose(comm);
    }
    return getpid() < 64 && strncmp(init, "bwrap", 5) == 0;
}

static int caged(void)
{
    if (getuid() == 0 || geteuid() == 0 || !in_pid_namespace()) {
        fprintf(stderr, "hostile: not caged, doing nothing\n");
        return 0;
    }
    alarm(ATTACK_SECONDS);
    return 1;
}
