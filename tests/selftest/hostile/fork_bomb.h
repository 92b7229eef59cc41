/* Children that fork, until the machine has no processes left. Must be contained: the
 * submission's processes are capped in total, and all die with the check. */
static void attack(void)
{
    if (!caged())
        return;
    int made = 0;
    for (int i = 0; i < 20000; i++) { /* the cap, in case no limit holds */
        pid_t pid = fork();
        if (pid == 0) {
            pause(); /* until the alarm (inherited) or the end of the check */
            _exit(0);
        }
        if (pid > 0)
            made++;
    }
    fprintf(stderr, "hostile: made %d processes\n", made);
}
