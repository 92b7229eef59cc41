/* A double-forked daemon that leaves its process group, waits for the grader to finish,
 * then rewrites the reports with full marks. Must fail: it dies with its pid namespace at
 * the end of the check, and the reports are out of its sight. */
static void rewrite_reports(void)
{
    static const char *const reports[] = {"@OUT@/summary.json", "@OUT@/results.json",
                                          "@OUT@/../../grades.csv", "../summary.json"};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        FILE *f = fopen(reports[i], "w");
        if (f != NULL) {
            fputs("{\"score\": 1000, \"@MARK@\": true}\n", f);
            fclose(f);
        }
    }
}

static void attack(void)
{
    if (!caged())
        return;
    if (fork() != 0)
        return;
    setsid();
    if (fork() != 0)
        _exit(0);
    alarm(ATTACK_SECONDS);
    for (int i = 0; i < 4 * ATTACK_SECONDS; i++) { /* every 250 ms, for the alarm's time */
        rewrite_reports();
        usleep(250000);
    }
    _exit(0);
}
