/* Files through the thread pool (io_uring later, behind the same API).
 *
 * Every call packs its system call(s) into an op, runs it on the pool with
 * cio_to_thread_future and awaits the future. The work is one pool round
 * trip per call: cio_file_write's loop over short writes, cio_file_read_all
 * and cio_file_write_atomic each run whole on one pool thread.
 *
 * Cancellation (and a deadline passing) is the subtle part, because a pool
 * thread cannot be interrupted. An op is QUEUED, RUNNING or ABANDONED/STOP:
 *   - the pool thread moves QUEUED to RUNNING with one compare-and-swap
 *     before it touches anything of the caller's;
 *   - a task whose wait is interrupted moves QUEUED to ABANDONED with the
 *     same compare-and-swap. If it wins, the thread never touches the
 *     caller's buffer or descriptor, so the call returns at once (and the
 *     future is cancelled: a thread not yet on it skips it altogether).
 *   - If the thread won, the op is RUNNING: the task marks it STOP (long
 *     ops look at it between their system calls and give up early), and
 *     then either waits for the thread inside a shield (the op uses the
 *     caller's buffer or descriptor: read, write, pread, pwrite, sync,
 *     stat, write_atomic) or returns at once (the op owns all it uses:
 *     open, read_all, stat_path, close). Either way it returns the task's
 *     -ECANCELED or -ETIMEDOUT.
 * So no call returns while a pool thread still uses the caller's memory or
 * descriptor, and an op that outlives its caller frees what it made (the
 * descriptor of an open, the buffer of a read_all) when its job comes back.
 *
 * Ownership of the op: two references, the caller's and the job's, both
 * dropped on the loop's thread (no atomics). The job's is dropped by the
 * pool's arg_free (fn never ran), result_free (fn ran; the worker always
 * stores the op as its result and returns 0, so exactly one of the two, or
 * the future's destructor, runs). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct cio_file {
    int fd;
};

enum { OP_QUEUED, OP_RUNNING, OP_ABANDONED, OP_STOP };

struct op {
    _Atomic int state;
    int refs;                        /* loop thread only */
    void (*cleanup)(struct op *op); /* what an unclaimed op still holds */
    ssize_t res;                     /* the outcome: a count, 0, or -errno */
};

static void op_unref(void *p)
{
    struct op *op = p;
    if (--op->refs > 0)
        return;
    if (op->cleanup)
        op->cleanup(op);
    free(op);
}

/* On the pool thread: true if the op may run (it now belongs to this
 * thread until it returns); false if the caller abandoned it. */
static bool op_start(struct op *op)
{
    int expected = OP_QUEUED;
    return atomic_compare_exchange_strong_explicit(&op->state, &expected, OP_RUNNING,
                                                   memory_order_acquire, memory_order_relaxed);
}

static bool op_stopped(struct op *op)
{
    return atomic_load_explicit(&op->state, memory_order_relaxed) == OP_STOP;
}

/* Waits for fut in a shield: the thread still uses what the caller lent. */
static void wait_shielded(cio_future *fut)
{
    cio_scope shield;
    cio_shield_begin(&shield);
    /* Inside the shield cio_await returns only with fut done, unless it
     * could not register (-ENOMEM): then poll, the job ends on its own. */
    for (unsigned i = 0; !cio_future_is_done(fut); i++)
        if (cio_await(fut, NULL) == -ENOMEM)
            cio_sleep(i < 10 ? 0.001 : 0.05);
    cio_scope_end(&shield);
}

/* Runs fn(op) on the pool and waits. lends: the op uses the caller's
 * memory or descriptor, so an interrupted wait still waits for a running
 * thread. Returns 0 when fn ran to its end (op->res holds the outcome),
 * else the error (-ECANCELED, -ETIMEDOUT, -ENOMEM, the pool's). The caller
 * keeps its reference (op_unref when done with op->res). Afterwards the
 * state says what fn did: QUEUED (never submitted) and ABANDONED (it never
 * touches the caller's things), RUNNING (ran), STOP (ran, or still runs
 * when !lends). */
static int op_run(struct op *op, cio_work_fn fn, bool lends)
{
    atomic_init(&op->state, OP_QUEUED);
    op->refs = 1;
    op->res = 0;
    cio_future *fut;
    const cio_work_options opts = CIO_WORK_OPTIONS(.arg_free = op_unref, .result_free = op_unref);
    int rc = cio_to_thread_future(cio_current_loop(), &opts, fn, op, &fut);
    if (rc)
        return rc;
    op->refs = 2;
    rc = cio_await(fut, NULL);
    if (rc != 0 && !cio_future_is_done(fut)) {
        int expected = OP_QUEUED;
        if (atomic_compare_exchange_strong(&op->state, &expected, OP_ABANDONED)) {
            cio_future_cancel(fut); /* never runs: the pool hands it back */
        } else {
            atomic_store(&op->state, OP_STOP);
            if (lends)
                wait_shielded(fut);
            else
                cio_future_cancel(fut); /* its result goes to op_unref */
        }
    }
    cio_future_unref(fut);
    return rc;
}

static ssize_t pass_errno(void) { return -(ssize_t)errno; }

/* ---- Opening and closing ------------------------------------------------- */

struct open_op {
    struct op op;
    int flags;
    mode_t mode;
    int fd; /* the opened descriptor until the caller takes it */
    char path[];
};

static void open_cleanup(struct op *op)
{
    struct open_op *o = (struct open_op *)op;
    if (o->fd >= 0)
        close(o->fd); /* opened for a caller who gave up */
}

static int open_work(void *arg, void **result)
{
    struct open_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    int fd;
    do
        fd = open(o->path, o->flags | O_CLOEXEC, o->mode);
    while (fd < 0 && errno == EINTR);
    o->fd = fd;
    o->op.res = fd < 0 ? pass_errno() : 0;
    return 0;
}

/* A zeroed op of `size` bytes whose flexible member, at `path_off`, holds
 * a copy of path. */
static void *op_with_path(size_t size, size_t path_off, const char *path)
{
    size_t n = strlen(path) + 1;
    char *p = calloc(1, path_off + n > size ? path_off + n : size);
    if (p)
        memcpy(p + path_off, path, n);
    return p;
}

int cio_file_open(const char *path, int flags, mode_t mode, cio_file **out)
{
    if (out)
        *out = NULL;
    if (!cio_current_task())
        return -EPERM;
    if (!path || !out || !*path)
        return -EINVAL;
    cio__net_init_process(); /* a FIFO written with no reader raises SIGPIPE */
    cio_file *f = malloc(sizeof *f);
    struct open_op *o = op_with_path(sizeof *o, offsetof(struct open_op, path), path);
    if (!f || !o) {
        free(f);
        free(o);
        return -ENOMEM;
    }
    o->op.cleanup = open_cleanup;
    o->flags = flags;
    o->mode = mode;
    o->fd = -1;
    int rc = op_run(&o->op, open_work, false);
    if (rc == 0 && (rc = (int)o->op.res) == 0) {
        f->fd = o->fd;
        o->fd = -1;
        *out = f;
    } else {
        free(f);
    }
    op_unref(&o->op);
    return rc;
}

struct fd_op {
    struct op op;
    int fd;
    void *buf; /* read: where to; write: from (const) */
    size_t len;
    off_t off; /* -1: the descriptor's position */
    struct stat st;
};

static int close_work(void *arg, void **result)
{
    struct fd_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    /* Not retried on EINTR: on Linux the descriptor is gone either way. */
    o->op.res = close(o->fd) < 0 && errno != EINTR ? pass_errno() : 0;
    return 0;
}

int cio_file_close(cio_file *f)
{
    if (!f)
        return 0;
    int fd = f->fd;
    free(f);
    if (!cio_current_task())
        return close(fd) < 0 && errno != EINTR ? -errno : 0;
    struct fd_op *o = calloc(1, sizeof *o);
    if (!o)
        return close(fd) < 0 && errno != EINTR ? -errno : 0;
    o->fd = fd;
    int rc = op_run(&o->op, close_work, false);
    int state = atomic_load(&o->op.state);
    if (rc == 0) {
        rc = (int)o->op.res;
    } else if (state == OP_QUEUED || state == OP_ABANDONED) {
        /* The job never touches fd (never submitted, or abandoned): close
         * it here, so that it is gone when this returns. */
        close(fd);
    }
    op_unref(&o->op);
    return rc;
}

int cio_file_fd(const cio_file *f) { return f ? f->fd : -1; }

/* ---- Reading and writing ------------------------------------------------- */

static int read_work(void *arg, void **result)
{
    struct fd_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    ssize_t n;
    do
        n = o->off < 0 ? read(o->fd, o->buf, o->len) : pread(o->fd, o->buf, o->len, o->off);
    while (n < 0 && errno == EINTR);
    o->op.res = n < 0 ? pass_errno() : n;
    return 0;
}

/* Writes everything unless an error comes first: a regular file writes
 * short only then (ENOSPC, EFBIG, a signal), and the loop spares the
 * caller a second pool round trip. The bytes written before an error are
 * the result; the error comes back from the next call, as with write(2). */
static int write_work(void *arg, void **result)
{
    struct fd_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    const char *p = o->buf;
    size_t done = 0;
    ssize_t err = 0;
    while (done < o->len && !op_stopped(&o->op)) {
        ssize_t n = o->off < 0 ? write(o->fd, p + done, o->len - done)
                               : pwrite(o->fd, p + done, o->len - done, o->off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? pass_errno() : -EIO; /* 0: nothing can progress */
            break;
        }
        done += (size_t)n;
    }
    o->op.res = done > 0 ? (ssize_t)done : err;
    return 0;
}

static ssize_t fd_io(cio_file *f, void *buf, size_t len, off_t off, cio_work_fn fn)
{
    if (!cio_current_task())
        return -EPERM;
    if (!f || f->fd < 0 || (!buf && len) || len > SSIZE_MAX)
        return -EINVAL;
    if (len == 0)
        return 0; /* no system call, as read(2) of nothing on a regular file */
    struct fd_op *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->fd = f->fd;
    o->buf = buf;
    o->len = len;
    o->off = off;
    ssize_t rc = op_run(&o->op, fn, true);
    if (rc == 0)
        rc = o->op.res;
    op_unref(&o->op);
    return rc;
}

ssize_t cio_file_read(cio_file *f, void *buf, size_t len)
{
    return fd_io(f, buf, len, -1, read_work);
}

ssize_t cio_file_write(cio_file *f, const void *buf, size_t len)
{
    return fd_io(f, (void *)buf, len, -1, write_work);
}

ssize_t cio_file_pread(cio_file *f, void *buf, size_t len, off_t offset)
{
    if (offset < 0)
        return cio_current_task() ? -EINVAL : -EPERM;
    return fd_io(f, buf, len, offset, read_work);
}

ssize_t cio_file_pwrite(cio_file *f, const void *buf, size_t len, off_t offset)
{
    if (offset < 0)
        return cio_current_task() ? -EINVAL : -EPERM;
    return fd_io(f, (void *)buf, len, offset, write_work);
}

static int sync_work(void *arg, void **result)
{
    struct fd_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    int r;
    do
        r = fsync(o->fd);
    while (r < 0 && errno == EINTR);
    o->op.res = r < 0 ? pass_errno() : 0;
    return 0;
}

static int stat_work(void *arg, void **result)
{
    struct fd_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    o->op.res = fstat(o->fd, &o->st) < 0 ? pass_errno() : 0;
    return 0;
}

static int fd_simple(cio_file *f, struct stat *st, cio_work_fn fn)
{
    if (!cio_current_task())
        return -EPERM;
    if (!f || f->fd < 0 || (fn == stat_work && !st))
        return -EINVAL;
    struct fd_op *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->fd = f->fd;
    int rc = op_run(&o->op, fn, true);
    if (rc == 0 && (rc = (int)o->op.res) == 0 && st)
        *st = o->st;
    op_unref(&o->op);
    return rc;
}

int cio_file_sync(cio_file *f) { return fd_simple(f, NULL, sync_work); }

int cio_file_stat(cio_file *f, struct stat *st) { return fd_simple(f, st, stat_work); }

/* ---- Whole files ---------------------------------------------------------- */

struct path_op {
    struct op op;
    struct stat st;
    size_t max;   /* read_all: the limit (SIZE_MAX: none) */
    char *data;   /* read_all: the contents until the caller takes them */
    size_t len;
    const void *src; /* write_atomic: the caller's bytes */
    mode_t mode;
    char path[];
};

static int stat_path_work(void *arg, void **result)
{
    struct path_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    o->op.res = stat(o->path, &o->st) < 0 ? pass_errno() : 0;
    return 0;
}

static int path_begin(const char *path, struct path_op **out)
{
    if (!cio_current_task())
        return -EPERM;
    if (!path || !*path)
        return -EINVAL;
    if (!(*out = op_with_path(sizeof **out, offsetof(struct path_op, path), path)))
        return -ENOMEM;
    return 0;
}

int cio_file_stat_path(const char *path, struct stat *st)
{
    struct path_op *o;
    int rc = st ? path_begin(path, &o) : cio_current_task() ? -EINVAL : -EPERM;
    if (rc)
        return rc;
    rc = op_run(&o->op, stat_path_work, false);
    if (rc == 0 && (rc = (int)o->op.res) == 0)
        *st = o->st;
    op_unref(&o->op);
    return rc;
}

static void read_all_cleanup(struct op *op) { free(((struct path_op *)op)->data); }

static ssize_t read_all_fd(struct path_op *o, int fd)
{
    /* The size is a hint (the file may grow or shrink, /proc files say 0):
     * one byte more than it, so the read that sees the end needs no
     * growth, and one for the terminating NUL. */
    size_t cap = 4096;
    if (fstat(fd, &o->st) == 0 && S_ISREG(o->st.st_mode) && o->st.st_size > 0) {
        if ((uintmax_t)o->st.st_size > o->max)
            return -EMSGSIZE;
        if ((uintmax_t)o->st.st_size < SIZE_MAX - 2)
            cap = (size_t)o->st.st_size + 1;
    }
    if (cap > o->max)
        cap = o->max + 1; /* the byte past max tells "too big" from "just fits" */
    size_t len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    o->data = buf;
    for (;;) {
        if (op_stopped(&o->op))
            return -ECANCELED;
        if (len == cap) {
            if (len > o->max)
                return -EMSGSIZE;
            size_t ncap = cap < SIZE_MAX / 4 ? cap * 2 : SIZE_MAX - 1;
            if (ncap > o->max)
                ncap = o->max + 1;
            if (!(buf = realloc(o->data, ncap + 1)))
                return -ENOMEM;
            o->data = buf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pass_errno();
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > o->max)
        return -EMSGSIZE;
    buf[len] = 0;
    o->len = len;
    return 0;
}

static int read_all_work(void *arg, void **result)
{
    struct path_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    int fd;
    do
        fd = open(o->path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        o->op.res = pass_errno();
        return 0;
    }
    o->op.res = read_all_fd(o, fd);
    close(fd);
    if (o->op.res < 0) {
        free(o->data);
        o->data = NULL;
    }
    return 0;
}

int cio_file_read_all(const char *path, size_t max, void **data, size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    struct path_op *o;
    int rc = data && len ? path_begin(path, &o) : cio_current_task() ? -EINVAL : -EPERM;
    if (rc)
        return rc;
    o->op.cleanup = read_all_cleanup;
    o->max = max ? max : SIZE_MAX - 2;
    rc = op_run(&o->op, read_all_work, false);
    if (rc == 0 && (rc = (int)o->op.res) == 0) {
        *data = o->data;
        *len = o->len;
        o->data = NULL;
    }
    op_unref(&o->op);
    return rc;
}

/* The temporary's name: ".<base>.<12 random hex digits>", the base cut so
 * that the name stays under NAME_MAX. */
static void temp_name(char *out, size_t size, const char *base)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        static _Atomic uint64_t counter;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u) ^ ((uint64_t)getpid() << 32) ^
            atomic_fetch_add(&counter, 1) * 0xBF58476D1CE4E5B9u;
    }
    snprintf(out, size, ".%.200s.%012llx", base, (unsigned long long)(r & 0xFFFFFFFFFFFFull));
}

static ssize_t write_fully(struct path_op *o, int fd)
{
    const char *p = o->src;
    size_t done = 0;
    while (done < o->len) {
        if (op_stopped(&o->op))
            return -ECANCELED;
        ssize_t n = write(fd, p + done, o->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pass_errno();
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    int r;
    do
        r = fsync(fd);
    while (r < 0 && errno == EINTR);
    return r < 0 ? pass_errno() : 0;
}

/* O_TMPFILE: the data is written to a file with no name, so a crash
 * leaves nothing behind; it gets a (temporary) name only once complete.
 * Returns 0 with *tmp named, -EOPNOTSUPP if this way is not available
 * here (the caller falls back to a named temporary), else the error. */
static ssize_t write_unnamed(struct path_op *o, int dirfd, const char *base, char *tmp,
                             size_t tmpsize)
{
#ifdef O_TMPFILE
    int fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, o->mode);
    if (fd < 0)
        return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? -EOPNOTSUPP
                                                                          : pass_errno();
    ssize_t rc = write_fully(o, fd);
    if (rc == 0) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        rc = -EOPNOTSUPP;
        for (int tries = 0; tries < 16; tries++) {
            temp_name(tmp, tmpsize, base);
            int r = linkat(AT_FDCWD, proc, dirfd, tmp, AT_SYMLINK_FOLLOW);
            if (r < 0 && errno == ENOENT) /* no /proc: the privileged way */
                r = linkat(fd, "", dirfd, tmp, AT_EMPTY_PATH);
            if (r == 0) {
                rc = 0;
                break;
            }
            if (errno != EEXIST) {
                rc = errno == ENOSPC || errno == EDQUOT || errno == EROFS ? pass_errno()
                                                                        : -EOPNOTSUPP;
                break;
            }
        }
    }
    close(fd);
    return rc;
#else
    (void)o, (void)dirfd, (void)base, (void)tmp, (void)tmpsize;
    return -EOPNOTSUPP;
#endif
}

/* The portable way: O_CREAT | O_EXCL under a random name, removed again
 * on failure. */
static ssize_t write_named(struct path_op *o, int dirfd, const char *base, char *tmp,
                           size_t tmpsize)
{
    int fd = -1;
    for (int tries = 0; tries < 16 && fd < 0; tries++) {
        temp_name(tmp, tmpsize, base);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, o->mode);
        if (fd < 0 && errno != EEXIST && errno != EINTR)
            return pass_errno();
    }
    if (fd < 0)
        return -EEXIST;
    ssize_t rc = write_fully(o, fd);
    close(fd);
    if (rc < 0)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

static ssize_t write_atomic_in(struct path_op *o, int dirfd, const char *base)
{
    char tmp[NAME_MAX + 1];
    ssize_t rc = write_unnamed(o, dirfd, base, tmp, sizeof tmp);
    if (rc == -EOPNOTSUPP)
        rc = write_named(o, dirfd, base, tmp, sizeof tmp);
    if (rc < 0)
        return rc;
    /* The last point where giving up leaves the target as it was. */
    if (op_stopped(&o->op))
        rc = -ECANCELED;
    else if (renameat(dirfd, tmp, dirfd, base) < 0)
        rc = pass_errno();
    if (rc < 0) {
        unlinkat(dirfd, tmp, 0);
        return rc;
    }
    /* The rename itself made durable. A file system that cannot sync a
     * directory says EINVAL (nothing to be done there); any other error is
     * returned although the file was replaced. */
    int r;
    do
        r = fsync(dirfd);
    while (r < 0 && errno == EINTR);
    return r < 0 && errno != EINVAL ? pass_errno() : 0;
}

static int write_atomic_work(void *arg, void **result)
{
    struct path_op *o = arg;
    *result = o;
    if (!op_start(&o->op))
        return 0;
    /* path = dir "/" base; the op's copy of path is cut in place. */
    char *slash = strrchr(o->path, '/');
    const char *dir = ".", *base = o->path;
    if (slash) {
        *slash = 0;
        dir = slash == o->path ? "/" : o->path;
        base = slash + 1;
    }
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        o->op.res = -EISDIR; /* names a directory, not a file */
        return 0;
    }
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        o->op.res = pass_errno();
        return 0;
    }
    o->op.res = write_atomic_in(o, dirfd, base);
    close(dirfd);
    return 0;
}

int cio_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    struct path_op *o;
    int rc = data || !len ? path_begin(path, &o) : cio_current_task() ? -EINVAL : -EPERM;
    if (rc)
        return rc;
    o->src = data;
    o->len = len;
    o->mode = mode;
    rc = op_run(&o->op, write_atomic_work, true);
    if (rc == 0)
        rc = (int)o->op.res;
    op_unref(&o->op);
    return rc;
}
