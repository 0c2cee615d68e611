/* cio-test: threaded
 * cio_file_write_atomic: a new file, a replaced one (inode changes, mode
 * as asked), an empty one, relative and long names; failures leave the
 * target as it was and no temporary behind (a missing directory, a
 * directory as the target, a trailing slash, the file size limit cutting
 * the write, a read-only directory); a reader running beside the writer
 * only ever sees the old or the new content, whole. White-box: includes
 * src/net/file.c to run the named-temporary fallback (used where
 * O_TMPFILE is not available) on this file system too. */
#include <dirent.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "test.h"
#include <cio/net.h>

#include "net/file.c"

static char dir[64];
static char *in_dir(const char *name)
{
    static char paths[32][PATH_MAX];
    static int next;
    char *p = paths[next++ % 32];
    snprintf(p, PATH_MAX, "%s/%s", dir, name);
    return p;
}

/* The names in dir, sorted and joined with spaces, for comparing. */
static char listing[4096];
static const char *list_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        FAIL("opendir: %s", strerror(errno));
    char names[32][300];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && n < 32)
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: a handful of names */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[300];
            memcpy(t, names[j], sizeof t);
            memcpy(names[j], names[j - 1], sizeof t);
            memcpy(names[j - 1], t, sizeof t);
        }
    listing[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(listing, " ");
        strncat(listing, names[i], sizeof listing - strlen(listing) - 2);
    }
    return listing;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

static int guarded_main(void *arg, void **result)
{
    cio_scope scope;
    EXPECT_OK(cio_timeout_begin(&scope, 60));
    int rc = ((cio_task_fn)(uintptr_t)arg)(NULL, result);
    EXPECT_OK(cio_scope_end(&scope));
    return rc;
}

static void run(cio_task_fn fn)
{
    snprintf(dir, sizeof dir, "/tmp/cio-filea-XXXXXX");
    if (!mkdtemp(dir))
        FAIL("mkdtemp: %s", strerror(errno));
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(guarded_main, (void *)(uintptr_t)fn, NULL));
    EXPECT_EQ(before, test_fd_count());
    remove_tree(dir);
}

static void expect_content(const char *path, const char *want)
{
    void *data;
    size_t len;
    EXPECT_OK(cio_file_read_all(path, 0, &data, &len));
    EXPECT_EQ(strlen(want), len);
    EXPECT_STR_EQ(want, (char *)data);
    free(data);
}

/* ---- success ------------------------------------------------------------------ */

static int main_new_and_replace(void *arg, void **result)
{
    (void)arg, (void)result;
    umask(022);
    const char *path = in_dir("conf");
    EXPECT_OK(cio_file_write_atomic(path, "first", 5, 0640));
    expect_content(path, "first");
    struct stat a, b;
    EXPECT_OK(cio_file_stat_path(path, &a));
    EXPECT_EQ(0640, a.st_mode & 07777);
    EXPECT_STR_EQ("conf", list_dir()); /* no temporary left */

    EXPECT_OK(cio_file_write_atomic(path, "second, longer", 14, 0600));
    expect_content(path, "second, longer");
    EXPECT_OK(cio_file_stat_path(path, &b));
    EXPECT_NE(a.st_ino, b.st_ino); /* a new file took the name */
    EXPECT_EQ(0600, b.st_mode & 07777);
    EXPECT_STR_EQ("conf", list_dir());

    EXPECT_OK(cio_file_write_atomic(path, NULL, 0, 0600)); /* empty */
    expect_content(path, "");

    /* umask applies, as with open(O_CREAT). */
    EXPECT_OK(cio_file_write_atomic(path, "x", 1, 0666));
    EXPECT_OK(cio_file_stat_path(path, &b));
    EXPECT_EQ(0644, b.st_mode & 07777);

    /* A relative name goes to the working directory. */
    char cwd[PATH_MAX];
    EXPECT_TRUE(getcwd(cwd, sizeof cwd) != NULL);
    EXPECT_OK(chdir(dir));
    EXPECT_OK(cio_file_write_atomic("relative", "rel", 3, 0600));
    EXPECT_OK(chdir(cwd));
    expect_content(in_dir("relative"), "rel");

    /* A name of NAME_MAX bytes: the temporary's name is cut to fit. */
    char longname[NAME_MAX + 1];
    memset(longname, 'n', NAME_MAX);
    longname[NAME_MAX] = 0;
    EXPECT_OK(cio_file_write_atomic(in_dir(longname), "long", 4, 0600));
    expect_content(in_dir(longname), "long");
    char expect[1024];
    snprintf(expect, sizeof expect, "conf %s relative", longname);
    EXPECT_STR_EQ(expect, list_dir());
    return 0;
}

TEST(creates_and_replaces) { run(main_new_and_replace); }

/* ---- failures leave the target alone --------------------------------------- */

static int main_failures(void *arg, void **result)
{
    (void)arg, (void)result;
    char target[PATH_MAX]; /* in_dir's buffers are reused */
    snprintf(target, sizeof target, "%s", in_dir("target"));
    EXPECT_OK(cio_file_write_atomic(target, "old", 3, 0600));

    EXPECT_ERR(-ENOENT, cio_file_write_atomic(in_dir("nodir/file"), "new", 3, 0600));
    EXPECT_ERR(-ENOTDIR, cio_file_write_atomic(in_dir("target/file"), "new", 3, 0600));
    EXPECT_ERR(-EISDIR, cio_file_write_atomic(in_dir("sub/"), "new", 3, 0600));
    EXPECT_ERR(-EISDIR, cio_file_write_atomic(in_dir("."), "new", 3, 0600));
    EXPECT_ERR(-ENAMETOOLONG,
               cio_file_write_atomic(in_dir("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                                     "new", 3, 0600));
    /* The target is a directory: the data is written, the rename fails,
     * and the temporary goes again. */
    EXPECT_OK(mkdir(in_dir("sub"), 0700));
    EXPECT_OK(cio_file_write_atomic(in_dir("sub/inner"), "in", 2, 0600));
    EXPECT_ERR(-EISDIR, cio_file_write_atomic(in_dir("sub"), "new", 3, 0600));
    EXPECT_STR_EQ("sub target", list_dir());
    expect_content(in_dir("sub/inner"), "in");
    expect_content(target, "old");

    /* The write itself fails half way (the file size limit): the target
     * keeps its old content, the temporary is gone. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    EXPECT_OK(getrlimit(RLIMIT_FSIZE, &old));
    lim = old;
    lim.rlim_cur = 1000;
    EXPECT_OK(setrlimit(RLIMIT_FSIZE, &lim));
    char big[4096];
    memset(big, 'B', sizeof big);
    EXPECT_ERR(-EFBIG, cio_file_write_atomic(target, big, sizeof big, 0600));
    EXPECT_OK(setrlimit(RLIMIT_FSIZE, &old));
    expect_content(target, "old");
    EXPECT_STR_EQ("sub target", list_dir());

    /* A directory the caller may not write (root may write anywhere, so
     * this part needs another user). */
    if (geteuid() != 0) {
        EXPECT_OK(chmod(in_dir("sub"), 0500));
        EXPECT_ERR(-EACCES, cio_file_write_atomic(in_dir("sub/inner"), "new", 3, 0600));
        EXPECT_OK(chmod(in_dir("sub"), 0700));
        expect_content(in_dir("sub/inner"), "in");
    } else {
        fprintf(stderr, "read-only directory part skipped: running as root\n");
    }
    return 0;
}

TEST(failures_leave_the_target_untouched) { run(main_failures); }

/* ---- the named-temporary fallback (white-box) ------------------------------ */

static int main_named_fallback(void *arg, void **result)
{
    (void)arg, (void)result;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EXPECT_TRUE(dfd >= 0);
    struct path_op *o = op_with_path(sizeof *o, offsetof(struct path_op, path), "x");
    EXPECT_TRUE(o != NULL);
    atomic_init(&o->op.state, OP_RUNNING);
    o->src = "named";
    o->len = 5;
    o->mode = 0600;
    char tmp[NAME_MAX + 1];
    EXPECT_OK(write_named(o, dfd, "target", tmp, sizeof tmp));
    EXPECT_TRUE(strncmp(tmp, ".target.", 8) == 0);
    EXPECT_EQ(8 + 12, strlen(tmp));
    EXPECT_STR_EQ(tmp, list_dir()); /* the temporary, before the rename */
    EXPECT_OK(renameat(dfd, tmp, dfd, "target"));
    expect_content(in_dir("target"), "named");

    /* It fails half way: no temporary is left. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    EXPECT_OK(getrlimit(RLIMIT_FSIZE, &old));
    lim = old;
    lim.rlim_cur = 2;
    EXPECT_OK(setrlimit(RLIMIT_FSIZE, &lim));
    EXPECT_ERR(-EFBIG, write_named(o, dfd, "target", tmp, sizeof tmp));
    EXPECT_OK(setrlimit(RLIMIT_FSIZE, &old));
    EXPECT_STR_EQ("target", list_dir());

    /* Stopped (the caller gave up) before the data went out: the same. */
    atomic_store(&o->op.state, OP_STOP);
    EXPECT_ERR(-ECANCELED, write_named(o, dfd, "target", tmp, sizeof tmp));
    EXPECT_STR_EQ("target", list_dir());
    expect_content(in_dir("target"), "named");
    free(o);
    close(dfd);
    return 0;
}

TEST(named_temporary_fallback) { run(main_named_fallback); }

/* ---- a reader beside the writer ------------------------------------------------ */

#define A_SIZE (1 << 20)
#define B_SIZE (3 << 20)
#define ROUNDS 40

struct race {
    const char *path;
    bool writer_done;
    int reads, saw_a, saw_b;
};

static int race_writer(void *arg, void **result)
{
    (void)result;
    struct race *r = arg;
    char *a = malloc(A_SIZE), *b = malloc(B_SIZE);
    EXPECT_TRUE(a && b);
    memset(a, 'a', A_SIZE);
    memset(b, 'b', B_SIZE);
    for (int i = 0; i < ROUNDS; i++) {
        bool even = i % 2 == 0;
        EXPECT_OK(cio_file_write_atomic(r->path, even ? b : a, even ? B_SIZE : A_SIZE, 0600));
    }
    free(a);
    free(b);
    r->writer_done = true;
    return 0;
}

static int race_reader(void *arg, void **result)
{
    (void)result;
    struct race *r = arg;
    for (int i = 0; i < 100000 && !r->writer_done; i++) {
        void *data;
        size_t len;
        EXPECT_OK(cio_file_read_all(r->path, 0, &data, &len));
        const char *p = data;
        char c = p[0];
        EXPECT_TRUE(c == 'a' || c == 'b');
        EXPECT_EQ(c == 'a' ? A_SIZE : B_SIZE, len);
        EXPECT_TRUE(p[len - 1] == c && memchr(p, c == 'a' ? 'b' : 'a', len) == NULL);
        if (c == 'a')
            r->saw_a++;
        else
            r->saw_b++;
        r->reads++;
        free(data);
    }
    return 0;
}

static int main_race(void *arg, void **result)
{
    (void)arg, (void)result;
    char *a = malloc(A_SIZE);
    memset(a, 'a', A_SIZE);
    struct race r = {in_dir("shared"), false, 0, 0, 0};
    EXPECT_OK(cio_file_write_atomic(r.path, a, A_SIZE, 0600));
    free(a);
    cio_task *w, *rd[2];
    EXPECT_OK(cio_spawn(race_reader, &r, &rd[0]));
    EXPECT_OK(cio_spawn(race_reader, &r, &rd[1]));
    EXPECT_OK(cio_spawn(race_writer, &r, &w));
    EXPECT_OK(cio_await(w, NULL));
    EXPECT_OK(cio_await(rd[0], NULL));
    EXPECT_OK(cio_await(rd[1], NULL));
    cio_future_unref(w);
    cio_future_unref(rd[0]);
    cio_future_unref(rd[1]);
    EXPECT_TRUE(r.reads > 0);
    EXPECT_STR_EQ("shared", list_dir());
    fprintf(stderr, "%d whole reads beside %d replacements (%d old-size, %d new-size)\n", r.reads,
            ROUNDS, r.saw_a, r.saw_b);
    return 0;
}

TEST(a_reader_sees_the_old_or_the_new_file_whole)
{
    EXPECT_OK(cio_threadpool_set_size(4)); /* reads and writes overlap on the pool */
    run(main_race);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
