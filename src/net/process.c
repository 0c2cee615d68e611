/* Subprocesses: cio_process_*.
 *
 * Spawning is posix_spawn(3): glibc runs it with clone(CLONE_VM |
 * CLONE_VFORK) on a small stack of its own, which costs no copy of the
 * parent's page tables (a fork of a process with large task stacks would),
 * and reports a failed exec (or a failed file action: a missing cwd) as its
 * return value after reaping the short-lived child itself. So -ENOENT
 * comes back from cio_process_new, never as exit status 127, and no zombie
 * is left behind. Everything cio needs is in posix_spawn: the descriptors
 * (file actions), the working directory (addchdir_np, glibc 2.29), setsid
 * (POSIX_SPAWN_SETSID, glibc 2.26), and the signals: every disposition back
 * to SIG_DFL (POSIX_SPAWN_SETSIGDEF with a full set: cio itself sets
 * SIGPIPE to SIG_IGN in the parent, which a child would otherwise inherit)
 * and an empty mask (POSIX_SPAWN_SETSIGMASK). No vfork of our own is needed.
 *
 * Reaping, two ways, and no zombie either way:
 *   - pidfd (Linux 5.3): pidfd_open(2) on the new child, watched with the
 *     loop's reader; readable means the child exited, and the callback
 *     reaps it with waitpid(pid, WNOHANG). Signals go through
 *     pidfd_send_signal(2), which cannot reach a recycled pid.
 *   - SIGCHLD, where pidfd_open is refused (older kernels, seccomp
 *     sandboxes; `make compat` refuses it): the loop's SIGCHLD handler
 *     (cio_loop_add_signal_handler) runs waitpid(pid, WNOHANG) for each
 *     process of this loop still running, kept in the net state's `procs`
 *     list, and never waitpid(-1): the program's other children are not
 *     ours to reap. The handler is installed while the list is not empty
 *     and removed with its last process, so an idle loop can close.
 * In both ways a pid is never signalled after cio reaped it (its number may
 * belong to another process by then): the pid stays ours until we reap it,
 * and every signal is sent from the loop's thread, which is where we reap.
 *
 * The process's exit is one future (p->exit) that completes with 0 when the
 * child is reaped; cio_process_wait awaits it (which never cancels it), and
 * cio_process_wait_future chains a fresh future of the caller's onto it. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/opts.h"
#include "internal.h"

extern char **environ;

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

struct cio_process {
    cio_loop *loop;
    pid_t pid;
    int pidfd;        /* -1: the SIGCHLD way, or reaped */
    bool done;        /* reaped: status is final, pid no longer ours */
    bool listed;      /* in the net state's procs list (the SIGCHLD way) */
    int status;       /* exit code, or -signal */
    unsigned waiting; /* tasks inside cio_process_wait */
    cio_future *exit; /* completes with 0 when the child is reaped */
    cio_stream *in, *out, *err;
    struct cio_process *prev, *next; /* procs list */
};

/* Test-only switch (tests/net/test_process.c): true makes every new
 * process take the SIGCHLD way, so the normal suite runs both ways on a
 * kernel with pidfds. Not exported from the shared library. */
bool cio__process_no_pidfd;

/* Whether pidfd_open works here: 0 not known yet, 1 yes, -1 refused
 * (ENOSYS, or EPERM from a seccomp filter). Once refused it is not tried
 * again. */
static atomic_int pidfd_state;

/* Test-only: which way p is reaped (true: a pidfd). */
bool cio__process_uses_pidfd(const cio_process *p);
bool cio__process_uses_pidfd(const cio_process *p)
{
    return p && p->pidfd >= 0;
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return 255;
}

static void on_sigchld(void *arg);

static void unlist(cio_process *p)
{
    if (!p->listed)
        return;
    struct cio__net *net = cio__net_get(p->loop);
    if (p->prev)
        p->prev->next = p->next;
    else
        net->procs = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->listed = false;
    if (!net->procs)
        cio_loop_remove_signal_handler(p->loop, SIGCHLD);
}

/* The child is gone: record its status, stop watching it, wake the
 * waiters. */
static void reaped(cio_process *p, int status)
{
    p->done = true;
    p->status = status;
    if (p->pidfd >= 0) {
        cio_loop_remove_reader(p->loop, p->pidfd);
        close(p->pidfd);
        p->pidfd = -1;
    }
    unlist(p);
    cio_future_set_result(p->exit, NULL, NULL);
}

/* Reaps p if it has exited. Returns true if it is done now. */
static bool try_reap(cio_process *p)
{
    if (p->done)
        return true;
    int st = 0;
    pid_t r;
    do
        r = waitpid(p->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        reaped(p, decode_status(st));
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        /* Someone else reaped it (SIGCHLD set to SIG_IGN, or a
         * waitpid(-1) of the program's): the status is lost. 255, as
         * asyncio reports an unknown child's. */
        reaped(p, 255);
        return true;
    }
    return false;
}

static void on_pidfd(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    try_reap(arg);
}

static void on_sigchld(void *arg)
{
    struct cio__net *net = arg;
    /* try_reap may unlist p (and the handler with the last one): take the
     * next one first. */
    for (cio_process *p = net->procs, *next; p; p = next) {
        next = p->next;
        try_reap(p);
    }
}

/* The SIGCHLD way for p, which already runs: installs the handler if p is
 * the loop's first (unless `held`: installed before the spawn), lists p,
 * then reaps it at once if it has exited already (its SIGCHLD may have
 * come before the handler). Returns 0 or the handler's error. */
static int track_sigchld(cio_process *p, struct cio__net *net, bool held)
{
    if (!net->procs && !held) {
        int rc = cio_loop_add_signal_handler(p->loop, SIGCHLD, on_sigchld, net);
        if (rc)
            return rc;
    }
    p->next = net->procs;
    if (p->next)
        p->next->prev = p;
    p->prev = NULL;
    net->procs = p;
    p->listed = true;
    try_reap(p);
    return 0;
}

/* Whether the SIGCHLD way is known to be the one before trying. */
static bool use_sigchld(void)
{
    return cio__process_no_pidfd || atomic_load_explicit(&pidfd_state, memory_order_relaxed) < 0;
}

/* The pidfd way: 0, or an error meaning "use SIGCHLD instead". */
static int track_pidfd(cio_process *p)
{
    if (use_sigchld())
        return -ENOSYS;
    int fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    if (fd < 0) {
        int e = errno;
        if (e == ENOSYS || e == EPERM)
            atomic_store_explicit(&pidfd_state, -1, memory_order_relaxed);
        return -e;
    }
    atomic_store_explicit(&pidfd_state, 1, memory_order_relaxed);
    if (fd < 3) {
        /* pidfd_open sets close-on-exec itself; this only keeps the
         * descriptor off 0..2 should the program have closed them. */
        int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        if (moved < 0)
            return -errno;
        fd = moved;
    }
    int rc = cio_loop_add_reader(p->loop, fd, on_pidfd, p);
    if (rc) {
        close(fd);
        return rc;
    }
    p->pidfd = fd;
    return 0;
}

/* A close-on-exec pipe whose descriptors are both >= 3 (so that the
 * child's dup2 onto 0..2 never clobbers one of them), the parent's end
 * non-blocking. parent_reads: the parent's end is the read end. */
static int make_pipe(int fds[2], bool parent_reads)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 3)
            continue;
        int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (moved < 0) {
            int e = errno;
            close(fds[0]);
            close(fds[1]);
            return -e;
        }
        close(fds[i]);
        fds[i] = moved;
    }
    int parent = parent_reads ? fds[0] : fds[1];
    int fl = fcntl(parent, F_GETFL);
    if (fl < 0 || fcntl(parent, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return -e;
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void abort_stream(cio_stream **s)
{
    if (*s) {
        cio_stream_abort(*s);
        *s = NULL;
    }
}

/* One of stdin/stdout/stderr (target 0, 1, 2) as its mode says: a pipe
 * (its child end in *child, its parent end made a stream in *s), /dev/null,
 * or the parent's own. */
static int setup_std(posix_spawn_file_actions_t *fa, int target, int mode, int *child,
                     cio_stream **s)
{
    int rc;
    switch (mode) {
    case CIO_PROCESS_INHERIT:
        return 0;
    case CIO_PROCESS_DEVNULL:
        rc = posix_spawn_file_actions_addopen(fa, target, "/dev/null",
                                              target == 0 ? O_RDONLY : O_WRONLY, 0);
        return -rc;
    case CIO_PROCESS_STDOUT:
        return -posix_spawn_file_actions_adddup2(fa, 1, 2);
    case CIO_PROCESS_PIPE: {
        int fds[2];
        bool parent_reads = target != 0;
        rc = make_pipe(fds, parent_reads);
        if (rc)
            return rc;
        int parent = parent_reads ? fds[0] : fds[1];
        *child = parent_reads ? fds[1] : fds[0];
        rc = cio_stream_new(parent, NULL, s);
        if (rc) {
            close(parent);
            return rc;
        }
        return -posix_spawn_file_actions_adddup2(fa, *child, target);
    }
    }
    return -EINVAL;
}

static bool mode_ok(int mode, bool is_stderr)
{
    return mode == CIO_PROCESS_INHERIT || mode == CIO_PROCESS_PIPE ||
           mode == CIO_PROCESS_DEVNULL || (is_stderr && mode == CIO_PROCESS_STDOUT);
}

int cio_process_new(const char *const *argv, const cio_process_options *opts, cio_process **out)
{
    if (out)
        *out = NULL;
    if (!argv || !argv[0] || !argv[0][0] || !out)
        return -EINVAL;
    cio_process_options o = {.size = sizeof o};
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    if (!mode_ok(o.stdin_mode, false) || !mode_ok(o.stdout_mode, false) ||
        !mode_ok(o.stderr_mode, true))
        return -EINVAL;
    cio_loop *loop = cio__running_loop();
    if (!loop)
        return -EPERM;
    struct cio__net *net = cio__net_get(loop);
    if (!net)
        return -ENOMEM;
    cio__net_init_process();

    cio_process *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->loop = loop;
    p->pidfd = -1;
    rc = cio_future_new(loop, &p->exit);
    if (rc) {
        free(p);
        return rc;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int child[3] = {-1, -1, -1};
    bool fa_made = false, attr_made = false;
    rc = -posix_spawn_file_actions_init(&fa);
    if (rc)
        goto fail;
    fa_made = true;
    rc = -posix_spawnattr_init(&attr);
    if (rc)
        goto fail;
    attr_made = true;

    /* In this order: stderr's CIO_PROCESS_STDOUT copies the child's final
     * descriptor 1. */
    rc = setup_std(&fa, 0, o.stdin_mode, &child[0], &p->in);
    if (!rc)
        rc = setup_std(&fa, 1, o.stdout_mode, &child[1], &p->out);
    if (!rc)
        rc = setup_std(&fa, 2, o.stderr_mode, &child[2], &p->err);
    if (!rc && o.cwd)
        rc = -posix_spawn_file_actions_addchdir_np(&fa, o.cwd);
    if (rc)
        goto fail;

    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (o.new_session)
        flags |= POSIX_SPAWN_SETSID;
    rc = -posix_spawnattr_setsigdefault(&attr, &all);
    if (!rc)
        rc = -posix_spawnattr_setsigmask(&attr, &none);
    if (!rc)
        rc = -posix_spawnattr_setflags(&attr, flags);
    if (rc)
        goto fail;

    /* When the SIGCHLD way is known in advance, its handler goes in before
     * the child exists: a program that set SIGCHLD to SIG_IGN would
     * otherwise have the kernel reap a quick child first, and its status
     * would be lost. */
    bool held = false;
    if (use_sigchld() && !net->procs) {
        rc = cio_loop_add_signal_handler(loop, SIGCHLD, on_sigchld, net);
        if (rc)
            goto fail;
        held = true;
    }
    char *const *av = (char *const *)argv;
    char *const *env = o.env ? (char *const *)o.env : environ;
    pid_t pid;
    rc = o.search_path ? posix_spawnp(&pid, argv[0], &fa, &attr, av, env)
                       : posix_spawn(&pid, argv[0], &fa, &attr, av, env);
    if (rc) {
        rc = -rc;
        if (held && !net->procs)
            cio_loop_remove_signal_handler(loop, SIGCHLD);
        goto fail;
    }
    p->pid = pid;
    for (int i = 0; i < 3; i++)
        close_fd(&child[i]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);

    if (held || track_pidfd(p) != 0) {
        rc = track_sigchld(p, net, held);
        if (rc) {
            /* No way to learn of its exit: end it now rather than leave a
             * process we can never reap. SIGKILL cannot be caught, so the
             * blocking wait is short. */
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
            p->done = true;
            goto fail_spawned;
        }
    }
    *out = p;
    return 0;

fail:
    for (int i = 0; i < 3; i++)
        close_fd(&child[i]);
    if (fa_made)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_made)
        posix_spawnattr_destroy(&attr);
fail_spawned:
    abort_stream(&p->in);
    abort_stream(&p->out);
    abort_stream(&p->err);
    cio_future_unref(p->exit);
    free(p);
    return rc;
}

cio_stream *cio_process_stdin(const cio_process *p)
{
    return p ? p->in : NULL;
}

cio_stream *cio_process_stdout(const cio_process *p)
{
    return p ? p->out : NULL;
}

cio_stream *cio_process_stderr(const cio_process *p)
{
    return p ? p->err : NULL;
}

pid_t cio_process_pid(const cio_process *p)
{
    return p ? p->pid : 0;
}

int cio_process_wait(cio_process *p, int *status)
{
    if (!p)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (!p->done) {
        p->waiting++;
        int rc = cio_await(p->exit, NULL);
        p->waiting--;
        if (rc)
            return rc;
    }
    if (status)
        *status = p->status;
    return 0;
}

static void chain_exit(cio_future *exit, void *arg)
{
    (void)exit;
    cio_future *f = arg;
    if (!cio_future_is_done(f))
        cio_future_set_result(f, NULL, NULL);
    cio_future_unref(f);
}

int cio_process_wait_future(cio_process *p, cio_future **out)
{
    if (out)
        *out = NULL;
    if (!p || !out)
        return -EINVAL;
    cio_future *f;
    int rc = cio_future_new(p->loop, &f);
    if (rc)
        return rc;
    if (p->done) {
        cio_future_set_result(f, NULL, NULL);
    } else {
        cio_future_ref(f);
        rc = cio_future_add_done_callback(p->exit, chain_exit, f);
        if (rc) {
            cio_future_unref(f);
            cio_future_unref(f);
            return rc;
        }
    }
    *out = f;
    return 0;
}

bool cio_process_is_done(const cio_process *p)
{
    return p && p->done;
}

int cio_process_status(const cio_process *p)
{
    return p && p->done ? p->status : 0;
}

int cio_process_signal(cio_process *p, int sig)
{
    if (!p || sig < 0 || sig >= NSIG)
        return -EINVAL;
    /* A SIGCHLD not yet handled may mean the child is gone already: reap
     * first, so a dead child is never signalled (its pid may come back as
     * someone else's only after we reap, which is here, on this thread). */
    if (try_reap(p))
        return 0;
    if (p->pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0)
            return 0;
        if (errno == ESRCH)
            return 0; /* exited, not yet reaped */
        if (errno != ENOSYS)
            return -errno;
    }
    if (kill(p->pid, sig) == 0 || errno == ESRCH)
        return 0;
    return -errno;
}

int cio_process_kill(cio_process *p)
{
    return cio_process_signal(p, SIGKILL);
}

int cio_process_free(cio_process *p)
{
    if (!p)
        return 0;
    if (!p->done && !try_reap(p))
        return -EBUSY;
    if (p->waiting)
        return -EBUSY;
    abort_stream(&p->in);
    abort_stream(&p->out);
    abort_stream(&p->err);
    cio_future_unref(p->exit);
    free(p);
    return 0;
}

/* ---- cio_process_run ------------------------------------------------------ */

/* What one of run's tasks moves: the input to stdin, or stdout / stderr
 * into a buffer of at most max bytes. */
struct run_io {
    cio_stream *s;
    const char *input; /* the writer's */
    size_t input_len;
    size_t max;        /* the readers' */
    char *buf;
    size_t len, cap;
};

/* Writes in pieces of the stream's high-water mark, so that the stream's
 * buffer never holds a copy of a large input. A child that exits or closes
 * its stdin before reading everything is no error (-EPIPE), as in
 * Python's communicate(). */
#define RUN_CHUNK (64u << 10)

static int run_writer(void *arg, void **result)
{
    (void)result;
    struct run_io *io = arg;
    int rc = 0;
    for (size_t off = 0; off < io->input_len && rc == 0;) {
        size_t n = io->input_len - off < RUN_CHUNK ? io->input_len - off : RUN_CHUNK;
        rc = cio_stream_write(io->s, io->input + off, n);
        off += n;
    }
    if (rc == 0)
        rc = cio_stream_shutdown(io->s);
    return rc == -EPIPE ? 0 : rc;
}

static int run_reader(void *arg, void **result)
{
    (void)result;
    struct run_io *io = arg;
    for (;;) {
        if (io->len == io->cap) {
            if (io->cap > io->max)
                return -EMSGSIZE;
            /* Room for max + 1 bytes at most: one past max tells "more". */
            size_t ncap = io->cap ? io->cap * 2 : 16384;
            if (ncap < io->cap || ncap > io->max)
                ncap = io->max == SIZE_MAX ? SIZE_MAX - 1 : io->max + 1;
            char *nb = realloc(io->buf, ncap + 1);
            if (!nb)
                return -ENOMEM;
            io->buf = nb;
            io->cap = ncap;
        }
        ssize_t n = cio_stream_read(io->s, io->buf + io->len, io->cap - io->len);
        if (n == 0)
            break;
        if (n < 0)
            return (int)n;
        io->len += (size_t)n;
        if (io->len > io->max)
            return -EMSGSIZE;
    }
    if (!io->buf) {
        io->buf = malloc(1);
        if (!io->buf)
            return -ENOMEM;
    }
    io->buf[io->len] = 0;
    return 0;
}

int cio_process_run(const char *const *argv, const cio_process_options *opts, const void *input,
                    size_t input_len, size_t max, cio_process_result *res)
{
    if (res)
        memset(res, 0, sizeof *res);
    if (!argv || !res || (!input && input_len))
        return -EINVAL;
    cio_process_options o = {.size = sizeof o};
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    if (!cio_current_task())
        return -EPERM;
    if (input) {
        if (o.stdin_mode != CIO_PROCESS_INHERIT && o.stdin_mode != CIO_PROCESS_PIPE)
            return -EINVAL;
        o.stdin_mode = CIO_PROCESS_PIPE;
    } else if (o.stdin_mode == CIO_PROCESS_PIPE) {
        return -EINVAL; /* a pipe nobody writes would keep the child waiting */
    }
    if (o.stdout_mode == CIO_PROCESS_INHERIT)
        o.stdout_mode = CIO_PROCESS_PIPE;
    if (o.stderr_mode == CIO_PROCESS_INHERIT)
        o.stderr_mode = CIO_PROCESS_PIPE;
    if (max == 0)
        max = SIZE_MAX;

    cio_process *p;
    rc = cio_process_new(argv, &o, &p);
    if (rc)
        return rc;

    struct run_io io[3] = {
        {.s = p->in, .input = input, .input_len = input_len},
        {.s = p->out, .max = max},
        {.s = p->err, .max = max},
    };
    cio_task *tasks[3];
    size_t n = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!io[i].s)
            continue;
        rc = cio_spawn(i == 0 ? run_writer : run_reader, &io[i], &tasks[n]);
        if (rc == 0)
            n++;
    }
    /* Until every task is done or one failed; the caller's cancellation
     * or deadline interrupts it. */
    if (rc == 0 && n)
        rc = cio_wait(tasks, n, CIO_WAIT_FIRST_EXCEPTION, CIO_NO_TIMEOUT, NULL, NULL, NULL, NULL);
    bool failed = rc != 0;
    for (size_t i = 0; i < n && !failed; i++)
        failed = cio_future_error(tasks[i]) != 0;
    int status = 0;
    if (!failed) {
        /* Every task is done: both outputs ended. The exit is awaited
         * unshielded, so the caller's deadline still holds. */
        rc = cio_process_wait(p, &status);
        failed = rc != 0;
    }

    /* The end of a failure: shielded, so that a cancelled task or a passed
     * deadline still kills and reaps the child and ends the tasks that use
     * its streams before they are freed. */
    cio_scope shield;
    cio_shield_begin(&shield);
    if (failed) {
        cio_process_kill(p);
        for (size_t i = 0; i < n; i++)
            cio_future_cancel(tasks[i]);
    }
    for (size_t i = 0; i < n; i++) {
        /* Each task's own error (retrieved here, so none is reported). */
        int trc = cio_await(tasks[i], NULL);
        if (rc == 0 && trc != -ECANCELED)
            rc = trc;
        cio_future_unref(tasks[i]);
    }
    if (!cio_process_is_done(p))
        cio_process_wait(p, NULL);
    cio_scope_end(&shield);
    cio_process_free(p);

    if (rc == 0) {
        res->status = status;
        res->out = io[1].buf;
        res->out_len = io[1].len;
        res->err = io[2].buf;
        res->err_len = io[2].len;
    } else {
        free(io[1].buf);
        free(io[2].buf);
    }
    return rc;
}

void cio_process_result_free(cio_process_result *res)
{
    if (!res)
        return;
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}
