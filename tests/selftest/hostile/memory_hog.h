/* Three children that each touch HOG_MIB MiB at once: within a per-process limit each, together
 * more than the submission may have. Must be contained: memory is capped for the submission in
 * total (the self-test grades it with a small cap, so that the hog is quick, and fills in
 * @HOG_MIB@: not C until then, so clang-format is kept off it). */
/* clang-format off */
#define HOG_MIB @HOG_MIB@
/* clang-format on */

static void attack(void)
{
    if (!caged())
        return;
    for (int child = 0; child < 3; child++) {
        if (fork() != 0)
            continue;
        size_t size = (size_t)HOG_MIB << 20;
        volatile char *block = malloc(size); /* volatile: the compiler may not skip a page */
        for (size_t i = 0; block != NULL && i < size; i += 4096)
            block[i] = 1;
        fprintf(stderr, "hostile: child %d holds %d MiB\n", child, block != NULL ? HOG_MIB : 0);
        usleep(100000); /* hold it while the others grow */
        _exit(0);
    }
    for (int child = 0; child < 3; child++) {
        int status;
        if (wait(&status) == -1)
            break;
        if (WIFSIGNALED(status))
            fprintf(stderr, "hostile: a hog was killed by signal %d\n", WTERMSIG(status));
    }
}
