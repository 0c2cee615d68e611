/* Subprocesses (src/net/process.c): spawning with pipes, /dev/null,
 * inheritance and stderr->stdout; environment, working directory and
 * sessions; exit and signal statuses; waiting under a deadline; signals
 * and kill; cio_process_run with its limits, deadline and cancellation;
 * exec failures; fifty processes at once; the callback style.
 *
 * Every case runs twice, once per way of reaping: pidfd (when the kernel
 * offers it) and SIGCHLD (forced with the library's test-only switch, and
 * the only way under `make compat`, whose seccomp filter refuses
 * pidfd_open). After each run: no descriptor leaked, no child left in
 * state Z, and waitpid(-1, WNOHANG) finds no child at all. */
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cio/net.h>

#include "test.h"

/* The library's test-only switch and probe (src/net/process.c). */
extern bool cio__process_no_pidfd;
bool cio__process_uses_pidfd(const cio_process *p);

/* No child of this process is a zombie (scanning /proc first, since the
 * waitpid below would reap one and hide it), and there is no child at
 * all. */
static void expect_no_children(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        FAIL("opendir /proc: %s", strerror(errno));
    pid_t me = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
            continue;
        if (ppid == me && state == 'Z')
            FAIL("child %s is a zombie", e->d_name);
    }
    closedir(d);
    errno = 0;
    EXPECT_EQ(-1, waitpid(-1, NULL, WNOHANG));
    EXPECT_EQ(ECHILD, errno);
}

static bool kernel_has_pidfd(void)
{
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* The way the current run reaps. */
static bool want_pidfd;

static void run_one(cio_task_fn fn, bool sigchld)
{
    cio__process_no_pidfd = sigchld;
    want_pidfd = !sigchld && kernel_has_pidfd();
    int fds = test_fd_baseline();
    EXPECT_OK(cio_run(fn, NULL, NULL));
    EXPECT_EQ(fds, test_fd_count());
    expect_no_children();
    struct sigaction sa;
    sigaction(SIGCHLD, NULL, &sa);
    EXPECT_TRUE(sa.sa_handler == SIG_DFL); /* the SIGCHLD way's handler is gone */
}

/* Runs fn as the main task once per way of reaping. */
static void both(cio_task_fn fn)
{
    run_one(fn, false);
    run_one(fn, true);
}

static cio_process *spawn(const char *const *argv, const cio_process_options *o)
{
    cio_process *p = NULL;
    int rc = cio_process_new(argv, o, &p);
    if (rc)
        FAIL("cio_process_new(%s): %s", argv[0], cio_err_name(rc));
    EXPECT_EQ(want_pidfd, cio__process_uses_pidfd(p));
    return p;
}

static int wait_status(cio_process *p)
{
    int st = 12345;
    EXPECT_OK(cio_process_wait(p, &st));
    EXPECT_TRUE(cio_process_is_done(p));
    EXPECT_EQ(st, cio_process_status(p));
    return st;
}

/* ---- 32 MB both ways through cat ---------------------------------------- */

#define BIG (32u << 20)

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 16) * 7);
}

struct feeder {
    cio_stream *s;
    size_t total;
};

static int feed(void *arg, void **result)
{
    (void)result;
    struct feeder *f = arg;
    static unsigned char chunk[100003]; /* odd size: writes straddle the pipe's */
    for (size_t off = 0; off < f->total;) {
        size_t n = f->total - off < sizeof chunk ? f->total - off : sizeof chunk;
        for (size_t i = 0; i < n; i++)
            chunk[i] = pattern(off + i);
        int rc = cio_stream_write(f->s, chunk, n);
        if (rc)
            return rc;
        off += n;
    }
    return cio_stream_shutdown(f->s);
}

static int main_cat_32mb(void *arg, void **result)
{
    (void)arg;
    (void)result;
    const char *argv[] = {"/bin/cat", NULL};
    cio_process *p = spawn(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE,
                                                       .stdout_mode = CIO_PROCESS_PIPE));
    EXPECT_TRUE(cio_process_stdin(p) != NULL);
    EXPECT_TRUE(cio_process_stdout(p) != NULL);
    EXPECT_TRUE(cio_process_stderr(p) == NULL);
    EXPECT_TRUE(cio_process_pid(p) > 0);
    struct feeder f = {cio_process_stdin(p), BIG};
    cio_task *t;
    EXPECT_OK(cio_spawn(feed, &f, &t));
    static unsigned char buf[70000];
    size_t got = 0;
    for (;;) {
        ssize_t n = cio_stream_read(cio_process_stdout(p), buf, sizeof buf);
        if (n < 0)
            FAIL("read: %s", cio_err_name((int)n));
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(got + (size_t)i))
                FAIL("byte %zu differs", got + (size_t)i);
        got += (size_t)n;
    }
    EXPECT_EQ(BIG, got);
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_EQ(0, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    return 0;
}

TEST_T(cat_32mb_both_ways_at_once, 240)
{
    both(main_cat_32mb);
}

static int main_run_32mb(void *arg, void **result)
{
    (void)arg;
    (void)result;
    unsigned char *in = malloc(BIG);
    EXPECT_TRUE(in != NULL);
    for (size_t i = 0; i < BIG; i++)
        in[i] = pattern(i);
    const char *argv[] = {"/bin/cat", NULL};
    cio_process_result res;
    EXPECT_OK(cio_process_run(argv, NULL, in, BIG, 2 * BIG, &res));
    EXPECT_EQ(0, res.status);
    EXPECT_EQ(BIG, res.out_len);
    EXPECT_TRUE(memcmp(in, res.out, BIG) == 0);
    EXPECT_EQ(0, res.out[BIG]);
    EXPECT_EQ(0, res.err_len);
    EXPECT_TRUE(res.err != NULL && res.err[0] == 0);
    cio_process_result_free(&res);
    EXPECT_TRUE(res.out == NULL && res.err == NULL);
    free(in);
    return 0;
}

TEST_T(run_32mb_both_ways, 240)
{
    both(main_run_32mb);
}

/* ---- stderr, /dev/null, stderr->stdout ----------------------------------- */

static int main_stderr(void *arg, void **result)
{
    (void)arg;
    (void)result;
    const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 4", NULL};
    cio_process_result res;
    EXPECT_OK(cio_process_run(argv, NULL, NULL, 0, 1024, &res));
    EXPECT_EQ(4, res.status);
    EXPECT_STR_EQ("out\n", res.out);
    EXPECT_EQ(4, res.out_len);
    EXPECT_STR_EQ("err\n", res.err);
    EXPECT_EQ(4, res.err_len);
    cio_process_result_free(&res);

    /* stderr->stdout: one stream, in the order written. */
    EXPECT_OK(cio_process_run(argv, &CIO_PROCESS_OPTIONS(.stderr_mode = CIO_PROCESS_STDOUT), NULL,
                              0, 1024, &res));
    EXPECT_STR_EQ("out\nerr\n", res.out);
    EXPECT_TRUE(res.err == NULL);
    EXPECT_EQ(0, res.err_len);
    cio_process_result_free(&res);

    /* /dev/null for both. */
    EXPECT_OK(cio_process_run(argv,
                              &CIO_PROCESS_OPTIONS(.stdout_mode = CIO_PROCESS_DEVNULL,
                                                   .stderr_mode = CIO_PROCESS_DEVNULL),
                              NULL, 0, 1024, &res));
    EXPECT_EQ(4, res.status);
    EXPECT_TRUE(res.out == NULL && res.err == NULL);
    cio_process_result_free(&res);

    /* With cio_process_new: stderr alone as a pipe, stdout to /dev/null,
     * stdin from /dev/null (cat ends at once). */
    const char *argv2[] = {"/bin/sh", "-c", "cat; echo gone >&2", NULL};
    cio_process *p = spawn(argv2, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_DEVNULL,
                                                        .stdout_mode = CIO_PROCESS_DEVNULL,
                                                        .stderr_mode = CIO_PROCESS_PIPE));
    EXPECT_TRUE(cio_process_stdin(p) == NULL && cio_process_stdout(p) == NULL);
    char line[64];
    ssize_t n = cio_stream_read_line(cio_process_stderr(p), line, sizeof line);
    EXPECT_EQ(5, n);
    EXPECT_TRUE(memcmp(line, "gone\n", 5) == 0);
    EXPECT_EQ(0, wait_status(p));
    EXPECT_OK(cio_process_free(p));

    /* stderr->stdout with cio_process_new: the stdout stream has both. */
    p = spawn(argv, &CIO_PROCESS_OPTIONS(.stdout_mode = CIO_PROCESS_PIPE,
                                         .stderr_mode = CIO_PROCESS_STDOUT));
    EXPECT_TRUE(cio_process_stderr(p) == NULL);
    void *all;
    size_t len;
    EXPECT_OK(cio_stream_read_all(cio_process_stdout(p), 1024, &all, &len));
    EXPECT_EQ(8, len);
    EXPECT_TRUE(memcmp(all, "out\nerr\n", 8) == 0);
    free(all);
    EXPECT_EQ(4, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    return 0;
}

TEST(stderr_capture_devnull_and_stderr_to_stdout)
{
    both(main_stderr);
}

/* ---- environment, working directory, PATH, session ----------------------- */

static int main_env_cwd(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_process_result res;
    const char *env[] = {"FOO=bar", "ZED=1 2", NULL};
    const char *argv_env[] = {"/usr/bin/env", NULL};
    EXPECT_OK(cio_process_run(argv_env, &CIO_PROCESS_OPTIONS(.env = env), NULL, 0, 4096, &res));
    EXPECT_STR_EQ("FOO=bar\nZED=1 2\n", res.out);
    cio_process_result_free(&res);

    /* The parent's environment when env is NULL. */
    setenv("CIO_TEST_PROCESS_VAR", "inherited", 1);
    const char *argv_echo[] = {"/bin/sh", "-c", "echo \"$CIO_TEST_PROCESS_VAR\"", NULL};
    EXPECT_OK(cio_process_run(argv_echo, NULL, NULL, 0, 4096, &res));
    EXPECT_STR_EQ("inherited\n", res.out);
    cio_process_result_free(&res);
    unsetenv("CIO_TEST_PROCESS_VAR");

    char dir[] = "/tmp/cio-process-XXXXXX";
    EXPECT_TRUE(mkdtemp(dir) != NULL);
    char real[PATH_MAX];
    EXPECT_TRUE(realpath(dir, real) != NULL);
    const char *argv_pwd[] = {"/bin/pwd", "-P", NULL};
    EXPECT_OK(cio_process_run(argv_pwd, &CIO_PROCESS_OPTIONS(.cwd = dir), NULL, 0, 4096, &res));
    char want[PATH_MAX + 2];
    snprintf(want, sizeof want, "%s\n", real);
    EXPECT_STR_EQ(want, res.out);
    cio_process_result_free(&res);
    /* A missing directory: an error of cio_process_new, no child left. */
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/none", dir);
    EXPECT_ERR(-ENOENT, cio_process_run(argv_pwd, &CIO_PROCESS_OPTIONS(.cwd = missing), NULL, 0,
                                        4096, &res));
    EXPECT_TRUE(res.out == NULL);
    EXPECT_OK(rmdir(dir));

    /* search_path: "sh" is found in PATH; without it, "sh" is a path. */
    const char *argv_sh[] = {"sh", "-c", "echo found", NULL};
    EXPECT_OK(cio_process_run(argv_sh, &CIO_PROCESS_OPTIONS(.search_path = true), NULL, 0, 4096,
                              &res));
    EXPECT_STR_EQ("found\n", res.out);
    cio_process_result_free(&res);
    EXPECT_ERR(-ENOENT, cio_process_run(argv_sh, NULL, NULL, 0, 4096, &res));

    /* new_session: the child leads a session of its own (field 6 of
     * /proc/PID/stat is the session id). */
    const char *argv_sid[] = {"/bin/sh", "-c", "read -r a b c d e sid rest < /proc/$$/stat; "
                                               "[ \"$sid\" = $$ ] && echo leader || echo member",
                              NULL};
    EXPECT_OK(cio_process_run(argv_sid, &CIO_PROCESS_OPTIONS(.new_session = true), NULL, 0, 4096,
                              &res));
    EXPECT_STR_EQ("leader\n", res.out);
    cio_process_result_free(&res);
    EXPECT_OK(cio_process_run(argv_sid, NULL, NULL, 0, 4096, &res));
    EXPECT_STR_EQ("member\n", res.out);
    cio_process_result_free(&res);
    return 0;
}

TEST(env_cwd_path_and_session)
{
    both(main_env_cwd);
}

/* ---- statuses, signals, the child's signal state ------------------------- */

static int main_statuses(void *arg, void **result)
{
    (void)arg;
    (void)result;
    const char *argv_exit[] = {"/bin/sh", "-c", "exit 3", NULL};
    cio_process *p = spawn(argv_exit, NULL);
    EXPECT_EQ(3, wait_status(p));
    /* Waiting again, signalling after the reap: no-ops. */
    EXPECT_EQ(3, wait_status(p));
    EXPECT_OK(cio_process_signal(p, SIGTERM));
    EXPECT_OK(cio_process_kill(p));
    EXPECT_OK(cio_process_free(p));

    const char *argv_false[] = {"/bin/false", NULL};
    p = spawn(argv_false, NULL);
    EXPECT_EQ(1, wait_status(p));
    EXPECT_OK(cio_process_free(p));

    /* Killed by a signal it sent itself: -N. */
    const char *argv_self[] = {"/bin/sh", "-c", "kill -USR1 $$; sleep 100", NULL};
    p = spawn(argv_self, NULL);
    EXPECT_EQ(-SIGUSR1, wait_status(p));
    EXPECT_OK(cio_process_free(p));

    /* SIGPIPE is back at SIG_DFL in the child, although cio ignores it
     * here (an ignored SIGPIPE would let the shell go on to exit 0). */
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    EXPECT_TRUE(sa.sa_handler == SIG_IGN);
    const char *argv_pipe[] = {"/bin/sh", "-c", "kill -PIPE $$; exit 0", NULL};
    p = spawn(argv_pipe, NULL);
    EXPECT_EQ(-SIGPIPE, wait_status(p));
    EXPECT_OK(cio_process_free(p));

    /* A signal ignored here is back at SIG_DFL, and one blocked here is
     * not blocked there. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int;
    sigaction(SIGINT, &ign, &old_int);
    sigset_t term, old_mask;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old_mask);
    const char *argv_int[] = {"/bin/sh", "-c", "kill -INT $$; exit 0", NULL};
    p = spawn(argv_int, NULL);
    EXPECT_EQ(-SIGINT, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    const char *argv_term[] = {"/bin/sh", "-c", "kill -TERM $$; exit 0", NULL};
    p = spawn(argv_term, NULL);
    EXPECT_EQ(-SIGTERM, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGINT, &old_int, NULL);

    /* cio_process_signal and cio_process_kill on a running child. */
    const char *argv_sleep[] = {"/bin/sleep", "1000", NULL};
    p = spawn(argv_sleep, NULL);
    EXPECT_OK(cio_process_signal(p, 0)); /* alive */
    EXPECT_OK(cio_process_signal(p, SIGTERM));
    EXPECT_EQ(-SIGTERM, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    p = spawn(argv_sleep, NULL);
    EXPECT_OK(cio_process_kill(p));
    EXPECT_EQ(-SIGKILL, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    return 0;
}

TEST(exit_codes_and_signal_statuses)
{
    both(main_statuses);
}

/* ---- wait under a deadline; free while running -------------------------- */

static int main_wait_deadline(void *arg, void **result)
{
    (void)arg;
    (void)result;
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    cio_process *p = spawn(argv, NULL);
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.05));
    int st = 12345;
    EXPECT_ERR(-ETIMEDOUT, cio_process_wait(p, &st));
    EXPECT_EQ(12345, st);
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    /* The child keeps running. */
    EXPECT_FALSE(cio_process_is_done(p));
    EXPECT_EQ(0, cio_process_status(p));
    EXPECT_OK(kill(cio_process_pid(p), 0));
    EXPECT_ERR(-EBUSY, cio_process_free(p));
    EXPECT_OK(cio_process_kill(p));
    EXPECT_EQ(-SIGKILL, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    return 0;
}

TEST(wait_with_deadline_leaves_child_running)
{
    both(main_wait_deadline);
}

/* ---- cio_process_run: limit, deadline, cancellation ---------------------- */

static int main_run_limits(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_process_result res;
    /* A child that never stops writing: killed at the limit. */
    const char *argv_yes[] = {"/usr/bin/yes", NULL};
    EXPECT_ERR(-EMSGSIZE, cio_process_run(argv_yes, NULL, NULL, 0, 100000, &res));
    EXPECT_TRUE(res.out == NULL && res.err == NULL);
    /* The same on stderr, with stdout quiet. */
    const char *argv_yes_err[] = {"/bin/sh", "-c", "exec /usr/bin/yes >&2", NULL};
    EXPECT_ERR(-EMSGSIZE, cio_process_run(argv_yes_err, NULL, NULL, 0, 4096, &res));
    /* Exactly max bytes is fine; max + 1 is not. */
    const char *argv_cat[] = {"/bin/cat", NULL};
    EXPECT_OK(cio_process_run(argv_cat, NULL, "0123456789", 10, 10, &res));
    EXPECT_STR_EQ("0123456789", res.out);
    cio_process_result_free(&res);
    EXPECT_ERR(-EMSGSIZE, cio_process_run(argv_cat, NULL, "0123456789", 10, 9, &res));
    /* A child that does not read its input: no error (as communicate()). */
    const char *argv_true[] = {"/bin/true", NULL};
    static char big[1 << 20];
    EXPECT_OK(cio_process_run(argv_true, NULL, big, sizeof big, 10, &res));
    EXPECT_EQ(0, res.status);
    EXPECT_EQ(0, res.out_len);
    cio_process_result_free(&res);

    /* A deadline: the child is killed and reaped before run returns. */
    const char *argv_sleep[] = {"/bin/sleep", "1000", NULL};
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.05));
    EXPECT_ERR(-ETIMEDOUT, cio_process_run(argv_sleep, NULL, NULL, 0, 10, &res));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    EXPECT_TRUE(res.out == NULL);
    errno = 0;
    EXPECT_EQ(-1, waitpid(-1, NULL, WNOHANG));
    EXPECT_EQ(ECHILD, errno);
    /* The same while writing input the child never reads. */
    const char *argv_sleep_in[] = {"/bin/sh", "-c", "exec sleep 1000", NULL};
    EXPECT_OK(cio_timeout_begin(&sc, 0.05));
    EXPECT_ERR(-ETIMEDOUT, cio_process_run(argv_sleep_in, NULL, big, sizeof big, 10, &res));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    errno = 0;
    EXPECT_EQ(-1, waitpid(-1, NULL, WNOHANG));
    EXPECT_EQ(ECHILD, errno);
    return 0;
}

TEST(run_limit_and_deadline_kill_and_reap)
{
    both(main_run_limits);
}

static int run_sleeper(void *arg, void **result)
{
    (void)result;
    int *started = arg;
    const char *argv[] = {"/bin/sleep", "1000", NULL};
    cio_process_result res;
    *started = 1;
    int rc = cio_process_run(argv, NULL, NULL, 0, 10, &res);
    /* Reaped before run returned. */
    errno = 0;
    EXPECT_EQ(-1, waitpid(-1, NULL, WNOHANG));
    EXPECT_EQ(ECHILD, errno);
    return rc;
}

static int main_run_cancel(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int started = 0;
    cio_task *t;
    EXPECT_OK(cio_spawn(run_sleeper, &started, &t));
    while (!started)
        EXPECT_OK(cio_yield());
    EXPECT_OK(cio_yield()); /* now inside run, waiting */
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST(run_cancelled_kills_and_reaps)
{
    both(main_run_cancel);
}

/* ---- exec failures -------------------------------------------------------- */

static int main_exec_fail(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_process *p = (cio_process *)1;
    const char *argv_none[] = {"/nonexistent/program", NULL};
    EXPECT_ERR(-ENOENT, cio_process_new(argv_none, NULL, &p));
    EXPECT_TRUE(p == NULL);
    EXPECT_ERR(-ENOENT, cio_process_new(argv_none,
                                        &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE,
                                                             .stdout_mode = CIO_PROCESS_PIPE,
                                                             .stderr_mode = CIO_PROCESS_PIPE),
                                        &p));
    const char *argv_path[] = {"cio-no-such-program-anywhere", NULL};
    EXPECT_ERR(-ENOENT,
               cio_process_new(argv_path, &CIO_PROCESS_OPTIONS(.search_path = true), &p));
    /* A file that is not executable. */
    char path[] = "/tmp/cio-process-noexec-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_TRUE(fd >= 0);
    EXPECT_EQ(4, write(fd, "x=1\n", 4));
    close(fd);
    EXPECT_OK(chmod(path, 0644));
    const char *argv_noexec[] = {path, NULL};
    EXPECT_ERR(-EACCES, cio_process_new(argv_noexec, NULL, &p));
    /* A directory. */
    const char *argv_dir[] = {"/tmp", NULL};
    EXPECT_ERR(-EACCES, cio_process_new(argv_dir, NULL, &p));
    EXPECT_OK(unlink(path));
    cio_process_result res;
    EXPECT_ERR(-ENOENT, cio_process_run(argv_none, NULL, "in", 2, 10, &res));
    return 0;
}

TEST(exec_failure_is_an_error_not_a_status)
{
    both(main_exec_fail);
}

/* ---- fifty at once --------------------------------------------------------- */

#define MANY 50

static int many_one(void *arg, void **result)
{
    (void)result;
    intptr_t i = (intptr_t)arg;
    char script[64], want[32];
    snprintf(script, sizeof script, "read x; echo \"$x-%d\"; exit %d", (int)i, (int)i);
    snprintf(want, sizeof want, "in%d-%d\n", (int)i, (int)i);
    char in[16];
    int inlen = snprintf(in, sizeof in, "in%d\n", (int)i);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    cio_process_result res;
    int rc = cio_process_run(argv, NULL, in, (size_t)inlen, 100, &res);
    if (rc)
        return rc;
    EXPECT_EQ(i, res.status);
    EXPECT_STR_EQ(want, res.out);
    cio_process_result_free(&res);
    return 0;
}

static int main_many(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_task *t[MANY];
    for (intptr_t i = 0; i < MANY; i++)
        EXPECT_OK(cio_spawn(many_one, (void *)i, &t[i]));
    /* And fifty plain ones alive at the same time, waited in reverse. */
    cio_process *p[MANY];
    const char *argv[] = {"/bin/sh", "-c", "read x; exit $x", NULL};
    for (int i = 0; i < MANY; i++)
        p[i] = spawn(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE));
    for (int i = 0; i < MANY; i++) {
        char line[16];
        int n = snprintf(line, sizeof line, "%d\n", i + 1);
        EXPECT_OK(cio_stream_write(cio_process_stdin(p[i]), line, (size_t)n));
        EXPECT_OK(cio_stream_shutdown(cio_process_stdin(p[i])));
    }
    for (int i = MANY - 1; i >= 0; i--) {
        EXPECT_EQ(i + 1, wait_status(p[i]));
        EXPECT_OK(cio_process_free(p[i]));
    }
    for (int i = 0; i < MANY; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    return 0;
}

TEST_T(fifty_processes_at_once, 240)
{
    both(main_many);
}

/* ---- the callback style: no task ----------------------------------------- */

struct cb_state {
    cio_process *p;
    cio_future *f;
    int status;
    int done;
    int rc;
};

static void on_exit_cb(cio_future *f, void *arg)
{
    struct cb_state *s = arg;
    s->rc = cio_future_error(f);
    s->status = cio_process_status(s->p);
    EXPECT_TRUE(cio_process_is_done(s->p));
    EXPECT_OK(cio_process_free(s->p));
    s->done = 1;
}

static void start_cb(void *arg)
{
    struct cb_state *s = arg;
    const char *argv[] = {"/bin/sh", "-c", "exit 9", NULL};
    EXPECT_OK(cio_process_new(argv, NULL, &s->p));
    EXPECT_EQ(want_pidfd, cio__process_uses_pidfd(s->p));
    /* The suspending forms refuse outside a task. */
    EXPECT_ERR(-EPERM, cio_process_wait(s->p, NULL));
    cio_process_result res;
    EXPECT_ERR(-EPERM, cio_process_run(argv, NULL, NULL, 0, 10, &res));
    EXPECT_OK(cio_process_wait_future(s->p, &s->f));
    EXPECT_OK(cio_future_add_done_callback(s->f, on_exit_cb, s));
}

static void callback_style(bool sigchld)
{
    cio__process_no_pidfd = sigchld;
    want_pidfd = !sigchld && kernel_has_pidfd();
    int fds = test_fd_baseline();
    cio_loop *loop = test_strict_loop_new();
    struct cb_state s = {0};
    EXPECT_OK(cio_call_soon(loop, start_cb, &s));
    test_run_until(loop, &s.done, 100000);
    EXPECT_OK(s.rc);
    EXPECT_EQ(9, s.status);
    cio_future_unref(s.f);
    test_drain(loop);
    CLOSE_LOOP(loop);
    EXPECT_EQ(fds, test_fd_count());
    expect_no_children();
}

TEST(wait_future_from_callbacks)
{
    callback_style(false);
    callback_style(true);
}

static int main_wait_future_after(void *arg, void **result)
{
    (void)arg;
    (void)result;
    /* It waits for its input, so it runs until we close that. */
    const char *argv[] = {"/bin/sh", "-c", "read x; exit 0", NULL};
    cio_process *p = spawn(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE));
    cio_future *f1, *f2;
    EXPECT_OK(cio_process_wait_future(p, &f1));
    EXPECT_FALSE(cio_future_is_done(f1));
    /* A future the caller cancels does not disturb the process. */
    EXPECT_OK(cio_process_wait_future(p, &f2));
    EXPECT_OK(cio_stream_shutdown(cio_process_stdin(p)));
    EXPECT_OK(cio_future_cancel(f2));
    EXPECT_OK(cio_await(f1, NULL));
    EXPECT_EQ(0, wait_status(p));
    cio_future_unref(f1);
    /* Once done: a future that is done already. */
    EXPECT_OK(cio_process_wait_future(p, &f1));
    EXPECT_TRUE(cio_future_is_done(f1));
    EXPECT_OK(cio_future_error(f1));
    cio_future_unref(f1);
    EXPECT_TRUE(cio_future_is_cancelled(f2));
    cio_future_unref(f2);
    EXPECT_OK(cio_process_free(p));
    return 0;
}

TEST(wait_future_in_a_task)
{
    both(main_wait_future_after);
}

/* ---- both ways, explicitly ------------------------------------------------ */

static int main_ways(void *arg, void **result)
{
    (void)arg;
    (void)result;
    const char *argv[] = {"/bin/sh", "-c", "read x; exit 5", NULL};
    /* spawn checks the way */
    cio_process *p = spawn(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE));
    struct sigaction sa;
    sigaction(SIGCHLD, NULL, &sa);
    /* The SIGCHLD way holds a handler while a process runs; pidfd none. */
    EXPECT_EQ(!want_pidfd, sa.sa_handler != SIG_DFL);
    EXPECT_OK(cio_stream_shutdown(cio_process_stdin(p)));
    EXPECT_EQ(5, wait_status(p));
    sigaction(SIGCHLD, NULL, &sa);
    EXPECT_TRUE(sa.sa_handler == SIG_DFL);
    EXPECT_OK(cio_process_free(p));
    return 0;
}

TEST(pidfd_and_sigchld_ways)
{
    both(main_ways);
    if (kernel_has_pidfd())
        printf("both ways ran (pidfd and SIGCHLD)\n");
    else
        printf("no pidfd_open here: the SIGCHLD way ran twice\n");
}

/* A child of the program's own, not cio's, is left alone by the SIGCHLD
 * way (no waitpid(-1)): the program reaps it itself. */
static int main_foreign_child(void *arg, void **result)
{
    (void)arg;
    (void)result;
    pid_t mine = fork();
    if (mine == 0)
        _exit(42);
    EXPECT_TRUE(mine > 0);
    const char *argv[] = {"/bin/sh", "-c", "exit 1", NULL};
    cio_process *p = spawn(argv, NULL);
    EXPECT_EQ(1, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    int st = 0;
    EXPECT_EQ(mine, waitpid(mine, &st, 0));
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 42);
    return 0;
}

TEST(other_children_are_not_reaped)
{
    both(main_foreign_child);
}

/* A program that sets SIGCHLD to SIG_IGN has the kernel reap its
 * children: with a pidfd, cio finds the child gone and reports 255 (as
 * asyncio); the SIGCHLD way installs its handler over SIG_IGN while the
 * child runs (the kernel then leaves the child to be reaped) and gets the
 * real status. Either way no zombie, and SIG_IGN is back afterwards. */
static int main_sigchld_ignored(void *arg, void **result)
{
    (void)arg;
    (void)result;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGCHLD, &ign, &old);
    /* A child that waits for its input, and one that exits at once (the
     * SIGCHLD way's handler is in before the spawn, so the kernel never
     * gets to reap it). */
    const char *argv[] = {"/bin/sh", "-c", "read x; exit 3", NULL};
    cio_process *p = spawn(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE));
    EXPECT_OK(cio_stream_shutdown(cio_process_stdin(p)));
    EXPECT_EQ(want_pidfd ? 255 : 3, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    const char *argv_quick[] = {"/bin/sh", "-c", "exit 3", NULL};
    /* Not spawn(): a child the kernel reaped before pidfd_open has no
     * pidfd (ESRCH), and is found gone by the SIGCHLD way's first look. */
    EXPECT_OK(cio_process_new(argv_quick, NULL, &p));
    EXPECT_EQ(want_pidfd ? 255 : 3, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    struct sigaction now;
    sigaction(SIGCHLD, &old, &now);
    EXPECT_TRUE(now.sa_handler == SIG_IGN);
    return 0;
}

TEST(sigchld_ignored_by_the_program)
{
    both(main_sigchld_ignored);
}

/* A parent whose stdin is closed: the next descriptors it opens (the
 * pipes, the pidfd) would be 0, which the child's dup2 onto 0..2 would
 * clobber; cio keeps them above 2. */
static int main_closed_stdin(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int saved = fcntl(0, F_DUPFD_CLOEXEC, 3);
    EXPECT_TRUE(saved >= 0);
    EXPECT_OK(close(0));
    const char *argv[] = {"/bin/cat", NULL};
    cio_process_result res;
    EXPECT_OK(cio_process_run(argv, NULL, "abc", 3, 10, &res));
    EXPECT_STR_EQ("abc", res.out);
    EXPECT_EQ(0, res.status);
    cio_process_result_free(&res);
    const char *argv_sh[] = {"/bin/sh", "-c", "read x; echo \"$x\" >&2; exit 6", NULL};
    cio_process *p = spawn(argv_sh, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE,
                                                          .stderr_mode = CIO_PROCESS_PIPE));
    EXPECT_OK(cio_stream_write(cio_process_stdin(p), "in\n", 3));
    EXPECT_OK(cio_stream_shutdown(cio_process_stdin(p)));
    char line[16];
    EXPECT_EQ(3, cio_stream_read_line(cio_process_stderr(p), line, sizeof line));
    EXPECT_TRUE(memcmp(line, "in\n", 3) == 0);
    EXPECT_EQ(6, wait_status(p));
    EXPECT_OK(cio_process_free(p));
    EXPECT_EQ(0, dup2(saved, 0));
    EXPECT_OK(close(saved));
    return 0;
}

TEST(parent_with_stdin_closed)
{
    both(main_closed_stdin);
}

/* ---- argument checks ------------------------------------------------------- */

static int main_args(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_process *p = (cio_process *)1;
    const char *argv[] = {"/bin/true", NULL};
    const char *argv_empty[] = {NULL};
    const char *argv_blank[] = {"", NULL};
    EXPECT_ERR(-EINVAL, cio_process_new(NULL, NULL, &p));
    EXPECT_TRUE(p == NULL);
    EXPECT_ERR(-EINVAL, cio_process_new(argv_empty, NULL, &p));
    EXPECT_ERR(-EINVAL, cio_process_new(argv_blank, NULL, &p));
    EXPECT_ERR(-EINVAL, cio_process_new(argv, NULL, NULL));
    EXPECT_ERR(-EINVAL,
               cio_process_new(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_STDOUT), &p));
    EXPECT_ERR(-EINVAL,
               cio_process_new(argv, &CIO_PROCESS_OPTIONS(.stdout_mode = CIO_PROCESS_STDOUT), &p));
    EXPECT_ERR(-EINVAL, cio_process_new(argv, &CIO_PROCESS_OPTIONS(.stderr_mode = 99), &p));
    EXPECT_ERR(-EINVAL, cio_process_new(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = -1), &p));
    cio_process_options zero = {0};
    EXPECT_ERR(-EINVAL, cio_process_new(argv, &zero, &p));
    struct {
        cio_process_options o;
        int extra;
    } newer = {.o = {.size = sizeof newer}, .extra = 1};
    EXPECT_ERR(-E2BIG, cio_process_new(argv, &newer.o, &p));
    newer.extra = 0; /* unknown fields at zero are fine */
    EXPECT_OK(cio_process_new(argv, &newer.o, &p));
    EXPECT_OK(cio_process_wait(p, NULL));
    EXPECT_OK(cio_process_free(p));

    EXPECT_ERR(-EINVAL, cio_process_wait(NULL, NULL));
    cio_future *f = (cio_future *)1;
    EXPECT_ERR(-EINVAL, cio_process_wait_future(NULL, &f));
    EXPECT_TRUE(f == NULL);
    EXPECT_ERR(-EINVAL, cio_process_signal(NULL, SIGTERM));
    EXPECT_ERR(-EINVAL, cio_process_kill(NULL));
    EXPECT_OK(cio_process_free(NULL));
    EXPECT_TRUE(cio_process_stdin(NULL) == NULL);
    EXPECT_TRUE(cio_process_stdout(NULL) == NULL);
    EXPECT_TRUE(cio_process_stderr(NULL) == NULL);
    EXPECT_EQ(0, cio_process_pid(NULL));
    EXPECT_FALSE(cio_process_is_done(NULL));
    EXPECT_EQ(0, cio_process_status(NULL));
    cio_process_result_free(NULL);

    p = spawn(argv, NULL);
    EXPECT_ERR(-EINVAL, cio_process_wait_future(p, NULL));
    EXPECT_ERR(-EINVAL, cio_process_signal(p, -1));
    EXPECT_ERR(-EINVAL, cio_process_signal(p, NSIG));
    EXPECT_OK(cio_process_wait(p, NULL));
    EXPECT_OK(cio_process_free(p));

    cio_process_result res = {.status = 7, .out = (char *)1};
    EXPECT_ERR(-EINVAL, cio_process_run(NULL, NULL, NULL, 0, 10, &res));
    EXPECT_TRUE(res.status == 0 && res.out == NULL);
    EXPECT_ERR(-EINVAL, cio_process_run(argv, NULL, NULL, 0, 10, NULL));
    EXPECT_ERR(-EINVAL, cio_process_run(argv, NULL, NULL, 5, 10, &res));
    EXPECT_ERR(-EINVAL, cio_process_run(argv_empty, NULL, NULL, 0, 10, &res));
    EXPECT_ERR(-EINVAL, cio_process_run(argv, &zero, NULL, 0, 10, &res));
    /* A stdin pipe with no input, or input with stdin elsewhere. */
    EXPECT_ERR(-EINVAL, cio_process_run(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE),
                                        NULL, 0, 10, &res));
    EXPECT_ERR(-EINVAL,
               cio_process_run(argv, &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_DEVNULL), "x",
                               1, 10, &res));
    /* max 0: no limit. */
    const char *argv_echo[] = {"/bin/sh", "-c", "echo unlimited", NULL};
    EXPECT_OK(cio_process_run(argv_echo, NULL, NULL, 0, 0, &res));
    EXPECT_STR_EQ("unlimited\n", res.out);
    cio_process_result_free(&res);
    return 0;
}

TEST(argument_checks)
{
    both(main_args);
    /* No loop: -EPERM. */
    const char *argv[] = {"/bin/true", NULL};
    cio_process *p;
    EXPECT_ERR(-EPERM, cio_process_new(argv, NULL, &p));
    cio_process_result res;
    EXPECT_ERR(-EPERM, cio_process_run(argv, NULL, NULL, 0, 10, &res));
    expect_no_children();
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
