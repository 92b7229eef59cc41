/* Reads what a student must not see: the reference solution, the tests (hidden ones too),
 * the harness, the system's password hashes. Must fail: none of it is visible. */
static void attack(void)
{
    if (!caged())
        return;
    static const char *const secrets[] = {
        "@ROOT@/solutions/01-tcp-basic/server.c", "@ROOT@/tests/test_01_tcp_basic.py",
        "@ROOT@/grader/grade.py", "@HIDDEN@/test_01_tcp_basic_hidden.py", "/etc/shadow"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        FILE *f = fopen(secrets[i], "r");
        char line[200] = "";
        if (f != NULL && fgets(line, sizeof line, f) != NULL)
            fprintf(stderr, "hostile: read %s: %s", secrets[i], line);
        if (f != NULL)
            fclose(f);
    }
}
