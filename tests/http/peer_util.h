/* Real peers for the HTTP suites: runs a program (curl, python3, wrk,
 * slowhttptest) with its output in a buffer, killed and reaped if it
 * outlives a generous bound. */
#ifndef CIO_HTTP_PEER_UTIL_H
#define CIO_HTTP_PEER_UTIL_H

#include <spawn.h>
#include <sys/stat.h>
#include <time.h>

#include "test.h"

extern char **environ;

/* Whether prog is on $PATH and executable. */
static inline bool peer_have(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (access(buf, X_OK) == 0)
            return true;
        p += n + (e ? 1 : 0);
    }
    return false;
}

static inline double peer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Starts argv with stdout and stderr into a new temporary file (*out_fd,
 * the caller's) and stdin from in_path (NULL: /dev/null). Returns the pid. */
static inline pid_t peer_spawn(char *const argv[], const char *in_path, int *out_fd)
{
    char tmpl[] = "/tmp/cio-peer-XXXXXX";
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0)
        FAIL("mkostemp: %s", strerror(errno));
    unlink(tmpl);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        FAIL("posix_spawnp %s: %s", argv[0], strerror(rc));
    *out_fd = fd;
    return pid;
}

/* Waits for pid for at most limit seconds (a hang bound), then kills it.
 * Returns the wait status; *timed_out tells a kill by this bound. */
static inline int peer_wait(pid_t pid, double limit, bool *timed_out)
{
    double end = peer_now() + limit;
    int st = 0;
    if (timed_out)
        *timed_out = false;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            FAIL("waitpid: %s", strerror(errno));
        if (peer_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            if (timed_out)
                *timed_out = true;
            return st;
        }
        usleep(10000);
    }
}

/* Reads the whole of fd (from its start) into a malloc'd NUL-terminated
 * string, and closes fd. */
static inline char *peer_slurp(int fd)
{
    lseek(fd, 0, SEEK_SET);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    close(fd);
    return buf;
}

/* Runs argv to its end (at most limit s): its exit code (-1 for a signal
 * or the bound), and its output in *out (malloc'd). */
static inline int peer_run(char *const argv[], const char *in_path, double limit, char **out)
{
    int fd;
    pid_t pid = peer_spawn(argv, in_path, &fd);
    bool to = false;
    int st = peer_wait(pid, limit, &to);
    char *o = peer_slurp(fd);
    if (out)
        *out = o;
    else
        free(o);
    if (to || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

#endif
