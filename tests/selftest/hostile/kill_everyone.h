/* Kills every process it can see, for a while: in a batch, the batch process itself and the
 * next student's compiler. Must fail: its pid namespace holds only its own processes. */
#include <dirent.h>

static void attack(void)
{
    if (!caged())
        return;
    for (int round = 0; round < 10; round++) { /* 10 rounds, 20 ms apart */
        DIR *proc = opendir("/proc");
        struct dirent *entry;
        while (proc != NULL && (entry = readdir(proc)) != NULL) {
            pid_t pid = (pid_t)atoi(entry->d_name);
            if (pid > 1 && pid != getpid())
                kill(pid, SIGKILL);
        }
        if (proc != NULL)
            closedir(proc);
        usleep(20000);
    }
}
