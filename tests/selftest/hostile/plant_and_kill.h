/* Plants a results.json with full marks wherever the grader might read one, then kills its
 * grader (its parent, and every process it may signal). Must fail: the reports are written
 * by the grader alone, and nothing outside the program's pid namespace can be signalled. */
static void attack(void)
{
    if (!caged())
        return;
    static const char *const plants[] = {"results.json", "../results.json", "../../results.json",
                                         "@OUT@/results.json", "/autograder/results/results.json"};
    for (size_t i = 0; i < sizeof plants / sizeof plants[0]; i++) {
        FILE *f = fopen(plants[i], "w");
        if (f != NULL) {
            fputs("{\"score\": 1000, \"tests\": [], \"output\": \"@MARK@\"}\n", f);
            fclose(f);
        }
    }
    kill(getppid(), SIGKILL);
    kill(-1, SIGKILL); /* as an unprivileged uid in its own pid namespace: only its own */
}
