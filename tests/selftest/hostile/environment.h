/* Looks for what the grader gives away: which check is running (PYTEST_CURRENT_TEST), where
 * the course is (PYTHONPATH), and the network it can reach. Must see only the documented
 * environment and a loopback of its own. */
extern char **environ;

static void attack(void)
{
    if (!caged())
        return;
    for (char **var = environ; *var != NULL; var++) {
        size_t name = strcspn(*var, "=");
        fprintf(stderr, "hostile: env %.*s\n", (int)name, *var);
    }
    FILE *dev = fopen("/proc/net/dev", "r");
    char line[256];
    while (dev != NULL && fgets(line, sizeof line, dev) != NULL)
        if (strchr(line, ':') != NULL)
            fprintf(stderr, "hostile: interface %.*s\n", (int)strcspn(line, ":"), line);
    if (dev != NULL)
        fclose(dev);
}
