/* cio-test: threaded
 * Cancellation and deadlines of cio_file_* while the pool runs the call:
 *   - a read or write whose job is running keeps the task waiting until the
 *     thread is done with the buffer, then returns -ECANCELED/-ETIMEDOUT;
 *   - a job still queued is abandoned: the call returns at once and the
 *     buffer is never touched (it is freed right after, so ASan would see a
 *     late write);
 *   - an open or read_all given up while it runs returns at once, and the
 *     descriptor (and buffer) its job makes afterwards is released.
 * Nothing here waits on time: a pool thread is held inside a system call
 * by a FIFO nobody writes yet (seen in /proc/self/task/N/syscall), and the
 * test releases it by writing. With a pool of one thread, a job submitted
 * behind the held one cannot start, which makes "queued" certain. */
#include <dirent.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "test.h"
#include <cio/net.h>

static char dir[64];
static char *in_dir(const char *name)
{
    static char paths[32][PATH_MAX];
    static int next;
    char *p = paths[next++ % 32];
    snprintf(p, PATH_MAX, "%s/%s", dir, name);
    return p;
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

static int guarded_main(void *arg, void **result)
{
    cio_scope scope;
    EXPECT_OK(cio_timeout_begin(&scope, 60));
    int rc = ((cio_task_fn)(uintptr_t)arg)(NULL, result);
    EXPECT_OK(cio_scope_end(&scope));
    return rc;
}

/* Runs fn as the main task (60 s against hangs) in a fresh directory,
 * with `threads` pool threads (0: the default), and checks that no
 * descriptor is left behind. */
static void run(cio_task_fn fn, unsigned threads)
{
    if (threads)
        EXPECT_OK(cio_threadpool_set_size(threads));
    snprintf(dir, sizeof dir, "/tmp/cio-filec-XXXXXX");
    if (!mkdtemp(dir))
        FAIL("mkdtemp: %s", strerror(errno));
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(guarded_main, (void *)(uintptr_t)fn, NULL));
    EXPECT_EQ(before, test_fd_count());
    dir_remove();
}

/* Whether /proc shows the system calls of threads (not every kernel). */
static bool can_see_syscalls(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", (long)syscall(SYS_gettid));
    return access(path, R_OK) == 0;
}

/* True if a thread other than the caller is inside system call nr, with
 * first argument arg0 unless any_arg. */
static bool thread_in_syscall(long nr, long arg0, bool any_arg)
{
    long me = (long)syscall(SYS_gettid);
    DIR *d = opendir("/proc/self/task");
    if (!d)
        FAIL("opendir /proc/self/task: %s", strerror(errno));
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.' || atol(e->d_name) == me)
            continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        long n;
        unsigned long a0;
        if (fgets(line, sizeof line, f) && sscanf(line, "%ld 0x%lx", &n, &a0) == 2)
            found = n == nr && (any_arg || (long)a0 == arg0);
        fclose(f);
    }
    closedir(d);
    return found;
}

/* Waits (from a task, bounded) until a pool thread sits in that call. */
static void wait_thread_in_syscall(long nr, long arg0, bool any_arg)
{
    for (int i = 0; i < 60000; i++) {
        if (thread_in_syscall(nr, arg0, any_arg))
            return;
        EXPECT_OK(cio_sleep(0.001));
    }
    FAIL("no thread entered system call %ld", nr);
}

#define SKIP_WITHOUT_SYSCALLS()                                                                   \
    do {                                                                                          \
        if (!can_see_syscalls()) {                                                                \
            fprintf(stderr, "skipped: /proc/self/task/N/syscall is not available\n");            \
            return;                                                                               \
        }                                                                                         \
    } while (0)

/* A FIFO opened read-write (so opening does not block): a read on it
 * blocks its pool thread until the test writes. */
static cio_file *fifo_open(const char *name)
{
    EXPECT_OK(mkfifo(in_dir(name), 0600));
    cio_file *f;
    EXPECT_OK(cio_file_open(in_dir(name), O_RDWR, 0, &f));
    return f;
}

static void fifo_put(cio_file *f, const char *s)
{
    size_t n = strlen(s);
    EXPECT_EQ((ssize_t)n, write(cio_file_fd(f), s, n)); /* fits in the pipe: no block */
}

static int fifo_pending(cio_file *f)
{
    int n = -1;
    EXPECT_OK(ioctl(cio_file_fd(f), FIONREAD, &n));
    return n;
}

/* Lets every other ready task and callback run a few times. */
static void settle(void)
{
    for (int i = 0; i < 10; i++)
        EXPECT_OK(cio_yield());
}

/* ---- a read that runs: the task waits for it --------------------------------- */

struct reader {
    cio_file *f;
    size_t len;
    off_t off; /* -1: cio_file_read */
    unsigned char fill;
    ssize_t rc;
    bool untouched; /* the buffer was as filled when the call returned */
    char head[16];
    cio_scope *scope; /* reader_deadline's, for the test to expire */
};

static int reader(void *arg, void **result)
{
    (void)result;
    struct reader *r = arg;
    unsigned char *buf = malloc(r->len);
    EXPECT_TRUE(buf != NULL);
    memset(buf, r->fill, r->len);
    r->rc = r->off < 0 ? cio_file_read(r->f, buf, r->len) : cio_file_pread(r->f, buf, r->len, r->off);
    r->untouched = true;
    for (size_t i = 0; i < r->len; i++)
        r->untouched &= buf[i] == r->fill;
    memcpy(r->head, buf, sizeof r->head);
    free(buf); /* a pool thread writing later would be a use after free */
    return r->rc < 0 ? (int)r->rc : 0;
}

static int main_cancel_running_read(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_file *f = fifo_open("fifo");
    struct reader r = {.f = f, .len = 1 << 20, .off = -1, .fill = 0xEE};
    cio_task *t;
    EXPECT_OK(cio_spawn(reader, &r, &t));
    wait_thread_in_syscall(SYS_read, cio_file_fd(f), false);
    EXPECT_OK(cio_future_cancel(t));
    settle();
    EXPECT_FALSE(cio_future_is_done(t)); /* the thread still holds the buffer */
    fifo_put(f, "0123456789");
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_ERR(-ECANCELED, r.rc);
    EXPECT_TRUE(memcmp(r.head, "0123456789", 10) == 0); /* the bytes moved */
    EXPECT_EQ(0, fifo_pending(f));
    cio_future_unref(t);
    EXPECT_OK(cio_file_close(f));
    return 0;
}

TEST(cancel_during_a_running_read_waits_for_the_thread)
{
    SKIP_WITHOUT_SYSCALLS();
    run(main_cancel_running_read, 0);
}

/* The same with the task's deadline passing (moved to now by the test). */
static int reader_deadline(void *arg, void **result)
{
    struct reader *r = arg;
    cio_scope scope;
    EXPECT_OK(cio_timeout_begin(&scope, 3600));
    r->scope = &scope;
    int rc = reader(arg, result);
    EXPECT_ERR(-ETIMEDOUT, rc);
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&scope));
    r->scope = NULL;
    return 0;
}

static int main_deadline_running_read(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_file *f = fifo_open("fifo");
    struct reader r = {.f = f, .len = 1 << 20, .off = -1, .fill = 0xEE};
    cio_task *t;
    EXPECT_OK(cio_spawn(reader_deadline, &r, &t));
    wait_thread_in_syscall(SYS_read, cio_file_fd(f), false);
    EXPECT_TRUE(r.scope != NULL);
    EXPECT_OK(cio_scope_reschedule(r.scope, cio_loop_time(cio_current_loop())));
    settle();
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_TRUE(cio_scope_is_expired(r.scope));
    fifo_put(f, "abc");
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_ERR(-ETIMEDOUT, r.rc);
    EXPECT_TRUE(memcmp(r.head, "abc", 3) == 0);
    cio_future_unref(t);
    EXPECT_OK(cio_file_close(f));
    return 0;
}

TEST(deadline_during_a_running_read_waits_for_the_thread)
{
    SKIP_WITHOUT_SYSCALLS();
    run(main_deadline_running_read, 0);
}

/* A write into a full FIFO blocks its thread until the test reads. */
struct writer {
    cio_file *f;
    size_t len;
    ssize_t rc;
};

static int writer(void *arg, void **result)
{
    (void)result;
    struct writer *w = arg;
    char *buf = malloc(w->len);
    EXPECT_TRUE(buf != NULL);
    memset(buf, 'w', w->len);
    w->rc = cio_file_write(w->f, buf, w->len);
    free(buf);
    return w->rc < 0 ? (int)w->rc : 0;
}

static int main_cancel_running_write(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_file *f = fifo_open("fifo");
    size_t len = 1 << 20; /* far more than a pipe holds */
    struct writer w = {f, len, 0};
    cio_task *t;
    EXPECT_OK(cio_spawn(writer, &w, &t));
    wait_thread_in_syscall(SYS_write, cio_file_fd(f), false);
    EXPECT_OK(cio_future_cancel(t));
    settle();
    EXPECT_FALSE(cio_future_is_done(t));
    /* Drain it from here (a blocking read is fine in a test): the thread
     * finishes the write it is in, then sees the stop and gives up. */
    char *buf = malloc(len);
    EXPECT_TRUE(buf != NULL);
    size_t got = 0;
    for (int i = 0; i < 600000 && !cio_future_is_done(t); i++) {
        if (fifo_pending(f) > 0) {
            ssize_t n = read(cio_file_fd(f), buf, len);
            EXPECT_TRUE(n > 0);
            got += (size_t)n;
        } else {
            EXPECT_OK(cio_sleep(0.0001));
        }
    }
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    EXPECT_ERR(-ECANCELED, w.rc);
    got += (size_t)fifo_pending(f);
    EXPECT_EQ(len, got); /* the write it was in went through */
    free(buf);
    cio_future_unref(t);
    EXPECT_OK(cio_file_close(f));
    return 0;
}

TEST(cancel_during_a_running_write_waits_for_the_thread)
{
    SKIP_WITHOUT_SYSCALLS();
    run(main_cancel_running_write, 0);
}

/* ---- a job still queued: abandoned, the call returns at once ------------------ */

/* Holds the pool's only thread in a read of the FIFO. */
struct holder {
    cio_file *fifo;
    struct reader r;
    cio_task *t;
};

static void hold_pool(struct holder *h)
{
    h->fifo = fifo_open("hold");
    h->r = (struct reader){.f = h->fifo, .len = 64, .off = -1, .fill = 0};
    EXPECT_OK(cio_spawn(reader, &h->r, &h->t));
    wait_thread_in_syscall(SYS_read, cio_file_fd(h->fifo), false);
}

static void release_pool(struct holder *h)
{
    EXPECT_FALSE(cio_future_is_done(h->t)); /* held all along */
    fifo_put(h->fifo, "go");
    EXPECT_OK(cio_await(h->t, NULL));
    EXPECT_EQ(2, h->r.rc);
    cio_future_unref(h->t);
    EXPECT_OK(cio_file_close(h->fifo));
    /* One more job through the one thread: every job before it is back. */
    struct stat st;
    EXPECT_OK(cio_file_stat_path(dir, &st));
}

static cio_file *regular(const char *name, const char *content)
{
    cio_file *f;
    EXPECT_OK(cio_file_open(in_dir(name), O_RDWR | O_CREAT | O_TRUNC, 0600, &f));
    EXPECT_EQ((ssize_t)strlen(content), write(cio_file_fd(f), content, strlen(content)));
    EXPECT_OK(lseek(cio_file_fd(f), 0, SEEK_SET));
    return f;
}

static int main_cancel_queued_read(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_file *f = regular("data", "some content");
    struct holder h;
    hold_pool(&h);
    struct reader r = {.f = f, .len = 4096, .off = -1, .fill = 0xEE};
    cio_task *t;
    EXPECT_OK(cio_spawn(reader, &r, &t));
    settle(); /* it submitted its job and waits */
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL)); /* with the pool still held */
    EXPECT_ERR(-ECANCELED, r.rc);
    EXPECT_TRUE(r.untouched);
    cio_future_unref(t);
    /* And with a deadline: pread this time. */
    struct reader r2 = {.f = f, .len = 4096, .off = 0, .fill = 0xAB};
    EXPECT_OK(cio_spawn(reader_deadline, &r2, &t));
    settle();
    EXPECT_OK(cio_scope_reschedule(r2.scope, cio_loop_time(cio_current_loop())));
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_ERR(-ETIMEDOUT, r2.rc);
    EXPECT_TRUE(r2.untouched);
    cio_future_unref(t);
    release_pool(&h);
    EXPECT_EQ(0, lseek(cio_file_fd(f), 0, SEEK_CUR)); /* nothing was consumed */
    EXPECT_OK(cio_file_close(f));
    return 0;
}

TEST(cancel_or_deadline_of_a_queued_read_returns_at_once)
{
    SKIP_WITHOUT_SYSCALLS();
    run(main_cancel_queued_read, 1);
}

struct atomic_writer {
    const char *path;
    int rc;
};

static int atomic_writer(void *arg, void **result)
{
    (void)result;
    struct atomic_writer *w = arg;
    w->rc = cio_file_write_atomic(w->path, "new content", 11, 0644);
    return w->rc;
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int main_cancel_queued_other(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_file *old = regular("target", "old");
    EXPECT_OK(cio_file_close(old));
    cio_file *other = regular("other", "x"), *third = regular("third", "abc");
    struct holder h;
    hold_pool(&h);
    int entries = count_entries(); /* target, other, third and hold */

    struct atomic_writer w = {in_dir("target"), 0};
    cio_task *t;
    EXPECT_OK(cio_spawn(atomic_writer, &w, &t));
    settle();
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-ECANCELED, w.rc);

    /* A close given up while queued closes the descriptor right away. */
    cio_file *f = other;
    int n = test_fd_count();
    EXPECT_OK(cio_future_cancel(cio_current_task()));
    EXPECT_ERR(-ECANCELED, cio_file_close(f));
    EXPECT_EQ(n - 1, test_fd_count());
    /* So does a read of a cancelled task, which consumes nothing. */
    f = third;
    char c = 0;
    EXPECT_ERR(-ECANCELED, cio_file_read(f, &c, 1));
    EXPECT_EQ(0, c);
    EXPECT_EQ(0, lseek(cio_file_fd(f), 0, SEEK_CUR));
    cio_scope shield;
    EXPECT_OK(cio_shield_begin(&shield)); /* the rest is cleanup */
    release_pool(&h);
    EXPECT_OK(cio_file_close(f));
    EXPECT_OK(cio_scope_end(&shield));

    void *data;
    size_t len;
    EXPECT_ERR(-ECANCELED, cio_file_read_all(in_dir("target"), 0, &data, &len));
    EXPECT_OK(cio_shield_begin(&shield));
    EXPECT_OK(cio_file_read_all(in_dir("target"), 0, &data, &len));
    EXPECT_STR_EQ("old", (char *)data); /* the abandoned write never ran */
    free(data);
    EXPECT_EQ(entries, count_entries()); /* no temporary left */
    EXPECT_OK(cio_scope_end(&shield));
    return -ECANCELED;
}

TEST(cancel_of_queued_write_atomic_and_close)
{
    SKIP_WITHOUT_SYSCALLS();
    EXPECT_OK(cio_threadpool_set_size(1));
    snprintf(dir, sizeof dir, "/tmp/cio-filec-XXXXXX");
    if (!mkdtemp(dir))
        FAIL("mkdtemp: %s", strerror(errno));
    int before = test_fd_baseline();
    EXPECT_ERR(-ECANCELED, cio_run(main_cancel_queued_other, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
    dir_remove();
}

/* ---- open and read_all given up while running: the job cleans up ----------- */

struct opener {
    const char *path;
    bool read_all;
    int rc;
    cio_file *f;
    void *data;
};

static int opener(void *arg, void **result)
{
    (void)result;
    struct opener *o = arg;
    size_t len;
    o->rc = o->read_all ? cio_file_read_all(o->path, 0, &o->data, &len)
                        : cio_file_open(o->path, O_RDONLY, 0, &o->f);
    return o->rc;
}

static void cancel_running_open(bool read_all)
{
    EXPECT_OK(mkfifo(in_dir("fifo"), 0600));
    int base = test_fd_count();
    struct opener o = {in_dir("fifo"), read_all, 0, (cio_file *)1, (void *)1};
    cio_task *t;
    EXPECT_OK(cio_spawn(opener, &o, &t));
    /* A FIFO opened for reading blocks until a writer comes. */
    wait_thread_in_syscall(SYS_openat, 0, true);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL)); /* at once: the thread is still held */
    cio_future_unref(t);
    EXPECT_ERR(-ECANCELED, o.rc);
    if (read_all)
        EXPECT_TRUE(o.data == NULL);
    else
        EXPECT_TRUE(o.f == NULL);
    EXPECT_TRUE(thread_in_syscall(SYS_openat, 0, true));
    /* Now the open completes on the pool, for nobody. */
    int w = open(in_dir("fifo"), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    EXPECT_TRUE(w >= 0);
    close(w); /* a read_all that still reads sees the end */
    struct stat st;
    EXPECT_OK(cio_file_stat_path(dir, &st)); /* behind it on the one thread */
    EXPECT_EQ(base, test_fd_count());             /* its descriptor was closed */
}

static int main_cancel_running_open(void *arg, void **result)
{
    (void)arg, (void)result;
    cancel_running_open(false);
    return 0;
}

static int main_cancel_running_read_all(void *arg, void **result)
{
    (void)arg, (void)result;
    cancel_running_open(true);
    return 0;
}

TEST(cancelled_open_closes_what_its_thread_opens)
{
    SKIP_WITHOUT_SYSCALLS();
    run(main_cancel_running_open, 1);
}

TEST(cancelled_read_all_frees_what_its_thread_reads)
{
    SKIP_WITHOUT_SYSCALLS();
    run(main_cancel_running_read_all, 1);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
