/* Eight files of FILE_MIB MiB each, every one under the per-file limit, together more than
 * the submission's disk. Must be contained: its scratch is capped in total. The self-test
 * fills in @FILE_MIB@ (not C until then: clang-format is kept off it). */
/* clang-format off */
#define FILE_MIB @FILE_MIB@
/* clang-format on */

static void attack(void)
{
    if (!caged())
        return;
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    long written = 0;
    for (int i = 0; i < 8; i++) {
        char name[64];
        snprintf(name, sizeof name, "filler-%d", i);
        FILE *f = fopen(name, "w");
        for (int mib = 0; f != NULL && mib < FILE_MIB; mib++) {
            if (fwrite(chunk, 1, sizeof chunk, f) != sizeof chunk)
                break;
            written += 1;
        }
        if (f != NULL)
            fclose(f);
    }
    fprintf(stderr, "hostile: wrote %ld MiB\n", written);
}
