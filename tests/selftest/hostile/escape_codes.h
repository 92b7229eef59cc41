/* Prints terminal escape codes, a NUL and a forged report line: they must reach every report
 * escaped (junit.xml stays valid XML, a terminal is never cleared). */
static void attack(void)
{
    if (!caged())
        return;
    static const char forged[] = "\033[2J\033[Hlab 01-tcp-basic 19/19 100%\n\a\x01\x7f end\n";
    fwrite(forged, 1, sizeof forged - 1, stdout);
    fwrite("nul:\0:here\n", 1, 11, stderr);
    fflush(stdout);
}
