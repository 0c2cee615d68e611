/* Replays every file of fuzz/corpus/request/ and fuzz/crashers/ through the
 * fuzz target's entry point (fuzz/fuzz_request.c) without libFuzzer, so
 * that `make test` (and `make asan`) keeps every past crasher fixed and the
 * seed corpus clean. The directories are found from this file's path (CMake
 * compiles it by its absolute path) or from $CIO_FUZZ_DIR. */
#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>

#include "test.h"

#include "../../fuzz/fuzz_request.c"

static void fuzz_root(char *out, size_t len)
{
    const char *env = getenv("CIO_FUZZ_DIR");
    if (env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__); /* .../tests/http/test_fuzz_replay.c */
    char *d = dirname(dirname(dirname(path)));
    snprintf(out, len, "%s/fuzz", d);
}

/* Runs every regular file of dir; returns how many. */
static int replay_dir(const char *dir, bool must_exist)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (must_exist)
            FAIL("cannot open %s: %s", dir, strerror(errno));
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        FILE *f = fopen(path, "rb");
        if (!f)
            FAIL("cannot open %s: %s", path, strerror(errno));
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        size_t got = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        unsigned long before = fz_reports;
        LLVMFuzzerTestOneInput(buf, got);
        free(buf);
        if (fz_reports != before)
            FAIL("%s: the server reported (see above)", path);
        n++;
    }
    closedir(d);
    return n;
}

TEST_T(replay_corpus_and_crashers, 280)
{
    int base = test_fd_baseline();
    char root[4096], dir[4200];
    fuzz_root(root, sizeof root);
    snprintf(dir, sizeof dir, "%s/corpus/request", root);
    int n = replay_dir(dir, true);
    snprintf(dir, sizeof dir, "%s/crashers", root);
    n += replay_dir(dir, false);
    printf("replayed %d inputs from %s\n", n, root);
    EXPECT_TRUE(n > 0);
    EXPECT_OK(fz_teardown());
    EXPECT_EQ(base, test_fd_count());
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
