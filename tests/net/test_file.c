/* cio-test: threaded
 * Files through the thread pool (cio_file_*): argument checks, round trips,
 * the descriptor's position and O_APPEND, pread/pwrite at offsets, a file
 * larger than any single read, stat, sync, read_all with and without a
 * limit, errors passed through, concurrent readers, and no descriptor
 * leaked (each case counts /proc/self/fd before and after). Cancellation
 * and deadlines are in test_file_cancel.c, write_atomic in
 * test_file_atomic.c. */
#include <dirent.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "test.h"
#include <cio/net.h>

#define MB (1024 * 1024)

/* A fresh directory per case, removed (with its files) at the end. */
static char dir[64];
static char *in_dir(const char *name)
{
    static char paths[32][PATH_MAX];
    static int next;
    char *p = paths[next++ % 32];
    snprintf(p, PATH_MAX, "%s/%s", dir, name);
    return p;
}

static void dir_make(void)
{
    snprintf(dir, sizeof dir, "/tmp/cio-file-XXXXXX");
    if (!mkdtemp(dir))
        FAIL("mkdtemp: %s", strerror(errno));
}

static void dir_remove(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    rmdir(dir);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
}

/* Runs main under cio_run with a 60 s deadline against hangs, checking
 * that it leaves no descriptor behind. */
struct guarded {
    cio_task_fn fn;
    void *arg;
};

static int guarded_main(void *arg, void **result)
{
    struct guarded *g = arg;
    cio_scope scope;
    EXPECT_OK(cio_timeout_begin(&scope, 60));
    int rc = g->fn(g->arg, result);
    EXPECT_OK(cio_scope_end(&scope));
    return rc;
}

static void run(cio_task_fn fn, void *arg)
{
    dir_make();
    int before = test_fd_baseline();
    struct guarded g = {fn, arg};
    EXPECT_OK(cio_run(guarded_main, &g, NULL));
    EXPECT_EQ(before, test_fd_count());
    dir_remove();
}

/* ---- argument checks -------------------------------------------------------- */

TEST(outside_a_task_every_call_refuses)
{
    cio_file *f = (cio_file *)1;
    struct stat st;
    void *data = (void *)1;
    size_t len = 1;
    char buf[4];
    EXPECT_ERR(-EPERM, cio_file_open("/dev/null", O_RDONLY, 0, &f));
    EXPECT_TRUE(f == NULL);
    EXPECT_ERR(-EPERM, cio_file_read(NULL, buf, sizeof buf));
    EXPECT_ERR(-EPERM, cio_file_write(NULL, buf, sizeof buf));
    EXPECT_ERR(-EPERM, cio_file_pread(NULL, buf, sizeof buf, 0));
    EXPECT_ERR(-EPERM, cio_file_pread(NULL, buf, sizeof buf, -1));
    EXPECT_ERR(-EPERM, cio_file_pwrite(NULL, buf, sizeof buf, 0));
    EXPECT_ERR(-EPERM, cio_file_pwrite(NULL, buf, sizeof buf, -1));
    EXPECT_ERR(-EPERM, cio_file_sync(NULL));
    EXPECT_ERR(-EPERM, cio_file_stat(NULL, &st));
    EXPECT_ERR(-EPERM, cio_file_read_all("/dev/null", 0, &data, &len));
    EXPECT_TRUE(data == NULL);
    EXPECT_EQ(0, len);
    EXPECT_ERR(-EPERM, cio_file_read_all("/dev/null", 0, NULL, NULL));
    EXPECT_ERR(-EPERM, cio_file_write_atomic("/tmp/x", buf, sizeof buf, 0600));
    EXPECT_ERR(-EPERM, cio_file_write_atomic("/tmp/x", NULL, 1, 0600));
    EXPECT_ERR(-EPERM, cio_file_stat_path("/", &st));
    EXPECT_ERR(-EPERM, cio_file_stat_path("/", NULL));
    EXPECT_EQ(-1, cio_file_fd(NULL));
    EXPECT_OK(cio_file_close(NULL));
}

static int main_args(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_file *f = (cio_file *)1;
    char buf[4];
    struct stat st;
    EXPECT_ERR(-EINVAL, cio_file_open(NULL, O_RDONLY, 0, &f));
    EXPECT_TRUE(f == NULL);
    EXPECT_ERR(-EINVAL, cio_file_open("", O_RDONLY, 0, &f));
    EXPECT_ERR(-EINVAL, cio_file_open("/dev/null", O_RDONLY, 0, NULL));
    EXPECT_ERR(-EINVAL, cio_file_read(NULL, buf, sizeof buf));
    EXPECT_ERR(-EINVAL, cio_file_write(NULL, buf, sizeof buf));
    EXPECT_ERR(-EINVAL, cio_file_pread(NULL, buf, sizeof buf, 0));
    EXPECT_ERR(-EINVAL, cio_file_pwrite(NULL, buf, sizeof buf, 0));
    EXPECT_ERR(-EINVAL, cio_file_sync(NULL));
    EXPECT_ERR(-EINVAL, cio_file_stat(NULL, &st));

    EXPECT_OK(cio_file_open(in_dir("a"), O_RDWR | O_CREAT, 0600, &f));
    EXPECT_ERR(-EINVAL, cio_file_read(f, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_file_write(f, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_file_pread(f, NULL, 1, 0));
    EXPECT_ERR(-EINVAL, cio_file_pwrite(f, NULL, 1, 0));
    EXPECT_ERR(-EINVAL, cio_file_pread(f, buf, sizeof buf, -1));
    EXPECT_ERR(-EINVAL, cio_file_pwrite(f, buf, sizeof buf, -5));
    EXPECT_ERR(-EINVAL, cio_file_read(f, buf, (size_t)SSIZE_MAX + 1));
    EXPECT_ERR(-EINVAL, cio_file_write(f, buf, (size_t)SSIZE_MAX + 1));
    EXPECT_ERR(-EINVAL, cio_file_stat(f, NULL));
    /* Nothing to move: 0 without a system call, also with a NULL buffer. */
    EXPECT_EQ(0, cio_file_read(f, NULL, 0));
    EXPECT_EQ(0, cio_file_write(f, NULL, 0));
    EXPECT_EQ(0, cio_file_pread(f, buf, 0, 10));
    EXPECT_EQ(0, cio_file_pwrite(f, buf, 0, 10));
    EXPECT_OK(cio_file_close(f));

    void *data = (void *)1;
    size_t len = 1;
    EXPECT_ERR(-EINVAL, cio_file_read_all(NULL, 0, &data, &len));
    EXPECT_TRUE(data == NULL);
    EXPECT_EQ(0, len);
    EXPECT_ERR(-EINVAL, cio_file_read_all("", 0, &data, &len));
    EXPECT_ERR(-EINVAL, cio_file_read_all("/dev/null", 0, NULL, &len));
    EXPECT_ERR(-EINVAL, cio_file_read_all("/dev/null", 0, &data, NULL));
    EXPECT_ERR(-EINVAL, cio_file_write_atomic(NULL, buf, 1, 0600));
    EXPECT_ERR(-EINVAL, cio_file_write_atomic("", buf, 1, 0600));
    EXPECT_ERR(-EINVAL, cio_file_write_atomic(in_dir("b"), NULL, 1, 0600));
    EXPECT_ERR(-ENOENT, cio_file_stat_path(in_dir("b"), &st)); /* nothing was made */
    EXPECT_ERR(-EINVAL, cio_file_stat_path(NULL, &st));
    EXPECT_ERR(-EINVAL, cio_file_stat_path("", &st));
    EXPECT_ERR(-EINVAL, cio_file_stat_path("/", NULL));
    return 0;
}

TEST(argument_checks) { run(main_args, NULL); }

/* ---- round trips ------------------------------------------------------------ */

static int main_round_trip(void *arg, void **result)
{
    (void)arg, (void)result;
    const char *path = in_dir("rt");
    cio_file *f;
    EXPECT_OK(cio_file_open(path, O_WRONLY | O_CREAT | O_EXCL, 0640, &f));
    int fd = cio_file_fd(f);
    EXPECT_TRUE(fd >= 0);
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC); /* always close-on-exec */
    EXPECT_EQ(5, cio_file_write(f, "hello", 5));
    EXPECT_EQ(6, cio_file_write(f, " world", 6)); /* at the descriptor's position */
    EXPECT_EQ(11, lseek(fd, 0, SEEK_CUR));
    EXPECT_OK(cio_file_sync(f));
    struct stat st;
    EXPECT_OK(cio_file_stat(f, &st));
    EXPECT_EQ(11, st.st_size);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_OK(cio_file_close(f));

    cio_file *g = NULL;
    EXPECT_ERR(-EEXIST, cio_file_open(path, O_WRONLY | O_CREAT | O_EXCL, 0640, &g));
    EXPECT_TRUE(g == NULL);
    EXPECT_OK(cio_file_open(path, O_RDONLY, 0, &f));
    char buf[32] = {0};
    EXPECT_EQ(4, cio_file_read(f, buf, 4));
    EXPECT_EQ(7, cio_file_read(f, buf + 4, sizeof buf - 4)); /* short: the end */
    EXPECT_STR_EQ("hello world", buf);
    EXPECT_EQ(0, cio_file_read(f, buf, sizeof buf)); /* end of file */
    EXPECT_OK(cio_file_close(f));

    struct stat sp;
    EXPECT_OK(cio_file_stat_path(path, &sp));
    EXPECT_EQ(11, sp.st_size);
    EXPECT_EQ(st.st_ino, sp.st_ino);
    return 0;
}

TEST(round_trip_and_position) { run(main_round_trip, NULL); }

static int main_append(void *arg, void **result)
{
    (void)arg, (void)result;
    const char *path = in_dir("log");
    cio_file *f;
    EXPECT_OK(cio_file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600, &f));
    EXPECT_EQ(3, cio_file_write(f, "abc", 3));
    EXPECT_OK(cio_file_close(f));
    EXPECT_OK(cio_file_open(path, O_WRONLY | O_APPEND, 0, &f));
    cio_file *other;
    EXPECT_OK(cio_file_open(path, O_WRONLY, 0, &other));
    EXPECT_EQ(2, cio_file_write(other, "XY", 2)); /* overwrites the start */
    EXPECT_EQ(3, cio_file_write(f, "def", 3));    /* O_APPEND: at the end */
    EXPECT_OK(cio_file_close(other));
    EXPECT_OK(cio_file_close(f));
    void *data;
    size_t len;
    EXPECT_OK(cio_file_read_all(path, 0, &data, &len));
    EXPECT_EQ(6, len);
    EXPECT_STR_EQ("XYcdef", (char *)data);
    free(data);
    return 0;
}

TEST(o_append_is_honoured) { run(main_append, NULL); }

static int main_offsets(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_file *f;
    EXPECT_OK(cio_file_open(in_dir("sparse"), O_RDWR | O_CREAT, 0600, &f));
    EXPECT_EQ(4, cio_file_pwrite(f, "AAAA", 4, 0));
    EXPECT_EQ(4, cio_file_pwrite(f, "CCCC", 4, 10000));
    EXPECT_EQ(4, cio_file_pwrite(f, "BBBB", 4, 4096));
    EXPECT_EQ(0, lseek(cio_file_fd(f), 0, SEEK_CUR)); /* the position stays */
    struct stat st;
    EXPECT_OK(cio_file_stat(f, &st));
    EXPECT_EQ(10004, st.st_size);
    char buf[8] = {0};
    EXPECT_EQ(4, cio_file_pread(f, buf, 4, 4096));
    EXPECT_STR_EQ("BBBB", buf);
    EXPECT_EQ(4, cio_file_pread(f, buf, 4, 10000));
    EXPECT_STR_EQ("CCCC", buf);
    EXPECT_EQ(2, cio_file_pread(f, buf, 4, 10002)); /* short at the end */
    EXPECT_EQ(0, cio_file_pread(f, buf, 4, 20000)); /* past it */
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(4, cio_file_pread(f, buf, 4, 100)); /* a hole reads as zeros */
    for (int i = 0; i < 4; i++)
        EXPECT_EQ(0, buf[i]);
    EXPECT_EQ(0, lseek(cio_file_fd(f), 0, SEEK_CUR));
    EXPECT_EQ(4, cio_file_read(f, buf, 4)); /* read starts at 0 still */
    EXPECT_TRUE(memcmp(buf, "AAAA", 4) == 0);
    EXPECT_OK(cio_file_close(f));
    return 0;
}

TEST(pread_pwrite_at_offsets) { run(main_offsets, NULL); }

/* 8 MB written in one call, read back in 64 KiB reads, then whole. */
static int main_big(void *arg, void **result)
{
    (void)arg, (void)result;
    size_t size = 8 * MB;
    unsigned char *src = malloc(size), *back = malloc(size);
    EXPECT_TRUE(src && back);
    fill(src, size, 7);
    const char *path = in_dir("big");
    cio_file *f;
    EXPECT_OK(cio_file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600, &f));
    EXPECT_EQ((ssize_t)size, cio_file_write(f, src, size));
    EXPECT_OK(cio_file_sync(f));
    EXPECT_OK(cio_file_close(f));

    EXPECT_OK(cio_file_open(path, O_RDONLY, 0, &f));
    size_t got = 0;
    int reads = 0;
    for (;;) {
        ssize_t n = cio_file_read(f, back + got, size - got < 65536 ? size - got : 65536);
        EXPECT_TRUE(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
        EXPECT_TRUE(++reads <= 1000);
    }
    EXPECT_EQ(size, got);
    EXPECT_TRUE(reads >= 128);
    EXPECT_TRUE(memcmp(src, back, size) == 0);
    EXPECT_OK(cio_file_close(f));

    void *data;
    size_t len;
    EXPECT_OK(cio_file_read_all(path, 0, &data, &len));
    EXPECT_EQ(size, len);
    EXPECT_TRUE(memcmp(src, data, size) == 0);
    EXPECT_EQ(0, ((char *)data)[len]); /* NUL-terminated */
    free(data);
    free(src);
    free(back);
    return 0;
}

TEST(eight_megabytes) { run(main_big, NULL); }

/* ---- read_all ---------------------------------------------------------------- */

static int main_read_all(void *arg, void **result)
{
    (void)arg, (void)result;
    const char *path = in_dir("ten");
    cio_file *f;
    EXPECT_OK(cio_file_open(path, O_WRONLY | O_CREAT, 0600, &f));
    EXPECT_EQ(10, cio_file_write(f, "0123456789", 10));
    EXPECT_OK(cio_file_close(f));

    void *data;
    size_t len;
    EXPECT_OK(cio_file_read_all(path, 0, &data, &len)); /* no limit */
    EXPECT_EQ(10, len);
    EXPECT_STR_EQ("0123456789", (char *)data);
    free(data);
    EXPECT_OK(cio_file_read_all(path, 10, &data, &len)); /* exactly the limit */
    EXPECT_EQ(10, len);
    free(data);
    EXPECT_ERR(-EMSGSIZE, cio_file_read_all(path, 9, &data, &len));
    EXPECT_TRUE(data == NULL);
    EXPECT_EQ(0, len);
    EXPECT_ERR(-EMSGSIZE, cio_file_read_all(path, 1, &data, &len));

    /* An empty file: a buffer holding "" and length 0. */
    EXPECT_OK(cio_file_open(in_dir("empty"), O_WRONLY | O_CREAT, 0600, &f));
    EXPECT_OK(cio_file_close(f));
    EXPECT_OK(cio_file_read_all(in_dir("empty"), 0, &data, &len));
    EXPECT_EQ(0, len);
    EXPECT_TRUE(data != NULL);
    EXPECT_EQ(0, *(char *)data);
    free(data);

    /* A file whose size says nothing (/proc): read to the end anyway, and
     * the limit still holds while reading. */
    EXPECT_OK(cio_file_read_all("/proc/self/status", 0, &data, &len));
    EXPECT_TRUE(len > 0);
    EXPECT_TRUE(strstr(data, "Pid:") != NULL);
    EXPECT_EQ(strlen(data), len);
    free(data);
    EXPECT_ERR(-EMSGSIZE, cio_file_read_all("/proc/self/status", 16, &data, &len));
    EXPECT_TRUE(data == NULL);

    EXPECT_ERR(-ENOENT, cio_file_read_all(in_dir("missing"), 0, &data, &len));
    EXPECT_ERR(-EISDIR, cio_file_read_all(dir, 0, &data, &len));
    return 0;
}

TEST(read_all_with_and_without_max) { run(main_read_all, NULL); }

/* ---- errors ------------------------------------------------------------------- */

static int main_errors(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_file *f = (cio_file *)1;
    EXPECT_ERR(-ENOENT, cio_file_open(in_dir("nope"), O_RDONLY, 0, &f));
    EXPECT_TRUE(f == NULL);
    EXPECT_ERR(-ENOTDIR, cio_file_open("/dev/null/x", O_RDONLY, 0, &f));
    struct stat st;
    EXPECT_ERR(-ENOENT, cio_file_stat_path(in_dir("nope"), &st));
    EXPECT_OK(cio_file_stat_path(dir, &st));
    EXPECT_TRUE(S_ISDIR(st.st_mode));

    char buf[8] = "abcdefg";
    EXPECT_OK(cio_file_open(in_dir("w"), O_WRONLY | O_CREAT, 0600, &f));
    EXPECT_ERR(-EBADF, cio_file_read(f, buf, sizeof buf)); /* write-only */
    EXPECT_ERR(-EBADF, cio_file_pread(f, buf, sizeof buf, 0));
    EXPECT_OK(cio_file_close(f));
    EXPECT_OK(cio_file_open(in_dir("w"), O_RDONLY, 0, &f));
    EXPECT_ERR(-EBADF, cio_file_write(f, buf, sizeof buf)); /* read-only */
    EXPECT_ERR(-EBADF, cio_file_pwrite(f, buf, sizeof buf, 0));
    EXPECT_OK(cio_file_close(f));
    EXPECT_OK(cio_file_open(dir, O_RDONLY | O_DIRECTORY, 0, &f));
    EXPECT_ERR(-EISDIR, cio_file_read(f, buf, sizeof buf));
    EXPECT_OK(cio_file_stat(f, &st));
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_OK(cio_file_close(f));

    /* A descriptor closed behind cio's back: the system's EBADF, and the
     * close reports it too (the cio_file is freed all the same). */
    EXPECT_OK(cio_file_open(in_dir("w"), O_RDONLY, 0, &f));
    close(cio_file_fd(f));
    EXPECT_ERR(-EBADF, cio_file_read(f, buf, sizeof buf));
    EXPECT_ERR(-EBADF, cio_file_sync(f));
    EXPECT_ERR(-EBADF, cio_file_stat(f, &st));
    EXPECT_ERR(-EBADF, cio_file_close(f));
    return 0;
}

TEST(system_errors_pass_through) { run(main_errors, NULL); }

/* A write that the system cuts short (the file size limit) returns what it
 * wrote; the next call returns the error, as write(2) does. */
static int main_short_write(void *arg, void **result)
{
    (void)arg, (void)result;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    EXPECT_OK(getrlimit(RLIMIT_FSIZE, &old));
    lim = old;
    lim.rlim_cur = 1000;
    EXPECT_OK(setrlimit(RLIMIT_FSIZE, &lim));
    char buf[4096];
    memset(buf, 'z', sizeof buf);
    cio_file *f;
    EXPECT_OK(cio_file_open(in_dir("limited"), O_WRONLY | O_CREAT, 0600, &f));
    EXPECT_EQ(1000, cio_file_write(f, buf, sizeof buf));
    EXPECT_ERR(-EFBIG, cio_file_write(f, buf, sizeof buf));
    EXPECT_EQ(500, cio_file_pwrite(f, buf, sizeof buf, 500));
    EXPECT_ERR(-EFBIG, cio_file_pwrite(f, buf, 10, 1000));
    EXPECT_OK(cio_file_close(f));
    EXPECT_OK(setrlimit(RLIMIT_FSIZE, &old));
    struct stat st;
    EXPECT_OK(cio_file_stat_path(in_dir("limited"), &st));
    EXPECT_EQ(1000, st.st_size);
    return 0;
}

TEST(short_write_then_error) { run(main_short_write, NULL); }

/* ---- close ------------------------------------------------------------------------ */

static int open_main(void *arg, void **result)
{
    (void)result;
    return cio_file_open("/dev/null", O_RDONLY, 0, arg);
}

/* Opened in a task, closed from plain code after cio_run: close(2) runs
 * right there. */
TEST(close_outside_a_task_closes_at_once)
{
    int before = test_fd_baseline();
    cio_file *f = NULL;
    EXPECT_OK(cio_run(open_main, &f, NULL));
    EXPECT_TRUE(f != NULL);
    EXPECT_EQ(before + 1, test_fd_count());
    EXPECT_OK(cio_file_close(f));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- several tasks at once ---------------------------------------------------- */

struct region {
    cio_file *f;
    const unsigned char *expect;
    size_t off, len;
};

static int read_region(void *arg, void **result)
{
    (void)result;
    struct region *r = arg;
    unsigned char *buf = malloc(r->len);
    EXPECT_TRUE(buf != NULL);
    size_t got = 0;
    while (got < r->len) {
        ssize_t n = cio_file_pread(r->f, buf + got, r->len - got, (off_t)(r->off + got));
        EXPECT_TRUE(n > 0);
        got += (size_t)n;
    }
    EXPECT_TRUE(memcmp(buf, r->expect + r->off, r->len) == 0);
    free(buf);
    return 0;
}

static int main_concurrent(void *arg, void **result)
{
    (void)arg, (void)result;
    size_t size = 8 * MB;
    unsigned char *src = malloc(size);
    EXPECT_TRUE(src != NULL);
    fill(src, size, 3);
    cio_file *f;
    EXPECT_OK(cio_file_open(in_dir("shared"), O_RDWR | O_CREAT, 0600, &f));
    EXPECT_EQ((ssize_t)size, cio_file_write(f, src, size));
    enum { N = 16 };
    struct region r[N];
    cio_task *t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct region){f, src, (size_t)i * (size / N), size / N};
        EXPECT_OK(cio_spawn(read_region, &r[i], &t[i]));
    }
    for (int i = 0; i < N; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    EXPECT_OK(cio_file_close(f));
    free(src);
    return 0;
}

TEST(concurrent_reads_from_many_tasks) { run(main_concurrent, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
