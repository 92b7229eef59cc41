/* Plants symbolic links where a careless grader would write its reports, pointing at a file
 * outside the sandbox. Must fail: reports are written only outside its sight, never through
 * a link. */
static void attack(void)
{
    if (!caged())
        return;
    static const char *const names[] = {"results.json", "summary.json",    "feedback.txt",
                                        "junit.xml",    "../results.json", "/tmp/results.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        symlink("@PWNED@", names[i]);
}
