/* Children that fork, until the machine has no processes left. Must be contained: the
 * submission's processes are capped in total, and all die with the check. */
static void attack(void)
{
    if (!caged())
        return;
    int made = 0;
    while (made < 20000) { /* the cap, in case no limit holds */
        pid_t pid = fork();
        if (pid == 0) {
            pause(); /* until the alarm (inherited) or the end of the check */
            _exit(0);
        }
        if (pid == -1)
            break; /* the limit holds: say so at once, before the check's deadline */
        made++;
    }
    fprintf(stderr, "hostile: made %d processes\n", made);
}
