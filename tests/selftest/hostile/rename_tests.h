/* Renames the course's test modules, so that the student graded next loses a lab. Must
 * fail: the course is not visible. */
static void attack(void)
{
    if (!caged())
        return;
    static const char *const modules[] = {"@ROOT@/tests/test_09_sticky_packets.py",
                                          "@ROOT@/tests/test_01_tcp_basic.py"};
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
        char moved[4096];
        snprintf(moved, sizeof moved, "%s.@MARK@", modules[i]);
        if (rename(modules[i], moved) == 0)
            fprintf(stderr, "hostile: renamed %s\n", modules[i]);
    }
}
