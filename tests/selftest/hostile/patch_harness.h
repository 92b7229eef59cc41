/* Rewrites the grader: walks up from its working folder (and tries the course's own path)
 * looking for harness/pytest_plugin.py, and appends code that would pass every check.
 * Must fail: the course is not visible, and read-only where it is. */
static void try_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd == -1)
        return;
    const char *code = "\n# @MARK@: every check passes\n";
    if (write(fd, code, strlen(code)) > 0)
        fprintf(stderr, "hostile: patched %s\n", path);
    close(fd);
}

static void attack(void)
{
    if (!caged())
        return;
    char path[4096] = "harness/pytest_plugin.py";
    for (int up = 0; up < 20; up++) {
        try_append(path);
        char deeper[4096];
        snprintf(deeper, sizeof deeper, "../%s", path);
        memcpy(path, deeper, sizeof path);
    }
    try_append("@ROOT@/harness/pytest_plugin.py");
    try_append("@ROOT@/tests/test_01_tcp_basic.py");
}
