/* Helpers for the TLS interop tests (tests/net/test_tls_peers*.c): the
 * certificates (tests/net/tls-certs.sh, run once per program into a
 * temporary directory), the real peers (openssl s_server/s_client, curl,
 * python3's ssl module), which the cases start on loopback ports and always
 * kill and reap, and the program's main, which skips (exit 77, CTest's
 * SKIP_RETURN_CODE) only when a peer program is missing.
 *
 * Long-running peers (servers) are forked by tp_spawn with
 * PR_SET_PDEATHSIG=SIGKILL, so a case that fails (abort) or hangs (the
 * harness's SIGALRM) takes its peers with it; a case that passes stops
 * them with tp_stop (SIGKILL, then waitpid). Readiness is a line on the
 * peer's output ("ACCEPT ..." for s_server, the port for a Python server),
 * read with a bound of 60 s: no sleep orders anything. Short-lived peers
 * (clients) run with cio_process_run inside the case's loop, so a cio
 * server in the same loop serves them meanwhile; they end when the
 * connection does, and the case's own death closes it. */
#ifndef CIO_TEST_NET_TLS_PEERS_H
#define CIO_TEST_NET_TLS_PEERS_H

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include <cio.h>
#include <cio/tls.h>

#include "test.h"

#ifndef CIO_TEST_TLS_CERTS
#error "CIO_TEST_TLS_CERTS (the path of tests/net/tls-certs.sh) is set by tests/CMakeLists.txt"
#endif

/* The directory of the certificates (set by tp_main, inherited by every
 * case's child). */
static char tp_dir[256];

/* Which peers exist (tp_main looks them up once). */
static bool tp_have_openssl, tp_have_curl, tp_have_python;
static bool tp_missing_any;

/* "<tp_dir>/<name>" in one of a ring of static buffers (a case uses a few
 * at once). */
static inline const char *tp_path(const char *name)
{
    static char ring[16][320];
    static unsigned next;
    char *p = ring[next++ % 16];
    snprintf(p, sizeof ring[0], "%s/%s", tp_dir, name);
    return p;
}

/* Monotonic seconds. */
static inline double tp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- long-running peers ---------------------------------------------------- */

typedef struct tp_peer {
    pid_t pid;
    int out;         /* read end of the peer's stdout+stderr; -1 when closed */
    int in;          /* write end of its stdin (tp_spawn_stdin); else -1 */
    char text[16384]; /* what it printed so far (NUL-terminated, truncated) */
    size_t len;
    size_t seen;      /* tp_wait_line looks from here on */
} tp_peer;

/* Starts argv (argv[0] looked up in PATH) in directory cwd (NULL: this
 * one) with stdout and stderr into a pipe, stdin from /dev/null or, with
 * with_stdin, from a pipe whose write end is p->in. */
static inline void tp_spawn_io(tp_peer *p, const char *const *argv, const char *cwd,
                               bool with_stdin)
{
    int fds[2], ins[2] = {-1, -1};
    if (pipe2(fds, O_CLOEXEC) != 0 || (with_stdin && pipe2(ins, O_CLOEXEC) != 0))
        FAIL("pipe2: %s", strerror(errno));
    memset(p, 0, sizeof *p);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126); /* the case already died */
        int null = with_stdin ? ins[0] : open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0)
            _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    p->out = fds[0];
    p->in = ins[1];
    if (with_stdin)
        close(ins[0]);
}

static inline void tp_spawn_in(tp_peer *p, const char *const *argv, const char *cwd)
{
    tp_spawn_io(p, argv, cwd, false);
}

static inline void tp_spawn(tp_peer *p, const char *const *argv)
{
    tp_spawn_in(p, argv, NULL);
}

/* Writes text to the peer's stdin (a pipe: small writes do not block). */
static inline void tp_send(tp_peer *p, const char *text)
{
    size_t len = strlen(text);
    if (p->in < 0 || write(p->in, text, len) != (ssize_t)len)
        FAIL("writing to peer %d's stdin: %s", (int)p->pid, strerror(errno));
}

/* Reads what the peer printed into p->text, waiting at most `wait` seconds
 * for something. Returns false at end of file. */
static inline bool tp_read_some(tp_peer *p, double wait)
{
    if (p->out < 0)
        return false;
    struct pollfd pfd = {p->out, POLLIN, 0};
    int ms = (int)(wait * 1000);
    int r = poll(&pfd, 1, ms);
    if (r < 0 && errno != EINTR)
        FAIL("poll: %s", strerror(errno));
    if (r <= 0)
        return true;
    char buf[4096];
    ssize_t n = read(p->out, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    size_t room = sizeof p->text - 1 - p->len;
    size_t k = (size_t)n < room ? (size_t)n : room;
    memcpy(p->text + p->len, buf, k);
    p->len += k;
    p->text[p->len] = 0;
    return true;
}

/* Waits (at most 30 s: a hang guard) for a line of the peer's output that
 * starts with prefix, after the lines earlier calls found; copies it
 * (without the newline) into line. */
static inline void tp_wait_line(tp_peer *p, const char *prefix, char *line, size_t len)
{
    double end = tp_now() + 30;
    size_t plen = strlen(prefix);
    for (;;) {
        const char *s = p->text + p->seen;
        while (s && *s) {
            const char *nl = strchr(s, '\n');
            if (!nl)
                break;
            if ((size_t)(nl - s) >= plen && memcmp(s, prefix, plen) == 0) {
                size_t n = (size_t)(nl - s);
                if (n >= len)
                    n = len - 1;
                memcpy(line, s, n);
                line[n] = 0;
                p->seen = (size_t)(nl + 1 - p->text);
                return;
            }
            s = nl + 1;
        }
        if (tp_now() > end)
            FAIL("peer %d printed no line starting with \"%s\" in 30 s; it printed:\n%s",
                 (int)p->pid, prefix, p->text);
        if (!tp_read_some(p, 0.5)) {
            int st = 0;
            waitpid(p->pid, &st, 0);
            p->pid = 0;
            FAIL("peer ended (status %#x) without a line starting with \"%s\"; it printed:\n%s",
                 st, prefix, p->text);
        }
    }
}

/* Kills the peer and reaps it; collects what it printed last. */
static inline void tp_stop(tp_peer *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        int st;
        while (waitpid(p->pid, &st, 0) < 0)
            if (errno != EINTR)
                FAIL("waitpid %d: %s", (int)p->pid, strerror(errno));
        p->pid = 0;
    }
    if (p->in >= 0) {
        close(p->in);
        p->in = -1;
    }
    if (p->out >= 0) {
        /* what is left in the pipe (bounded: a descendant of the peer
         * might hold the pipe open) */
        for (int i = 0; i < 64 && tp_read_some(p, 0); i++)
            ;
        close(p->out);
        p->out = -1;
    }
}

/* openssl s_server on addr ("127.0.0.1:0", "[::1]:0": a port it picks)
 * in directory cwd (NULL: this one), with extra arguments (NULL-terminated)
 * after the common ones; returns the port (read from its "ACCEPT
 * 127.0.0.1:PORT" line). cert names a pair NAME.pem/NAME.key. */
static inline uint16_t tp_s_server_io(tp_peer *p, const char *addr, const char *cwd,
                                      const char *cert, const char *const *extra,
                                      bool with_stdin)
{
    const char *argv[50];
    int n = 0;
    char certf[64], keyf[64];
    snprintf(certf, sizeof certf, "%s.pem", cert);
    snprintf(keyf, sizeof keyf, "%s.key", cert);
    if (with_stdin) {
        /* its interactive mode prints some lines with printf: line
         * buffering makes them come when they happen */
        argv[n++] = "stdbuf";
        argv[n++] = "-oL";
    }
    argv[n++] = "openssl";
    argv[n++] = "s_server";
    argv[n++] = "-accept";
    argv[n++] = addr;
    argv[n++] = "-cert";
    argv[n++] = tp_path(certf);
    argv[n++] = "-key";
    argv[n++] = tp_path(keyf);
    for (int i = 0; extra && extra[i]; i++) {
        if (n >= 46)
            FAIL("tp_s_server: too many arguments");
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    tp_spawn_io(p, argv, cwd, with_stdin);
    char line[128];
    tp_wait_line(p, "ACCEPT ", line, sizeof line);
    const char *colon = strrchr(line, ':');
    int port = colon ? atoi(colon + 1) : 0;
    if (port <= 0 || port > 65535)
        FAIL("s_server printed \"%s\"", line);
    return (uint16_t)port;
}

static inline uint16_t tp_s_server_at(tp_peer *p, const char *addr, const char *cwd,
                                      const char *cert, const char *const *extra)
{
    return tp_s_server_io(p, addr, cwd, cert, extra, false);
}

static inline uint16_t tp_s_server(tp_peer *p, const char *cert, const char *const *extra)
{
    return tp_s_server_at(p, "127.0.0.1:0", NULL, cert, extra);
}

/* A Python program (python3 -c code args...) whose first line of output is
 * its listening port. */
static inline uint16_t tp_python_server(tp_peer *p, const char *code, const char *const *args)
{
    const char *argv[16] = {"python3", "-c", code};
    int n = 3;
    for (int i = 0; args && args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    tp_spawn(p, argv);
    char line[64];
    tp_wait_line(p, "port ", line, sizeof line);
    int port = atoi(line + 5);
    if (port <= 0 || port > 65535)
        FAIL("the Python server printed \"%s\"", line);
    return (uint16_t)port;
}

/* ---- short-lived peers (inside the loop) ------------------------------------ */

typedef struct tp_run {
    int status; /* cio_process_run's: exit code, or -signal */
    char *out;  /* stdout and stderr, interleaved (malloc'd, NUL-terminated) */
} tp_run;

/* Runs argv (looked up in PATH) to the end in the current task, with input
 * on its stdin (may be NULL: /dev/null), capturing stdout and stderr. */
static inline tp_run tp_run_peer(const char *const *argv, const char *input)
{
    cio_process_result r;
    cio_process_options o = CIO_PROCESS_OPTIONS(.search_path = true,
                                                .stdin_mode = input ? CIO_PROCESS_PIPE
                                                                    : CIO_PROCESS_DEVNULL,
                                                .stderr_mode = CIO_PROCESS_STDOUT);
    int rc = cio_process_run(argv, &o, input, input ? strlen(input) : 0, 1 << 20, &r);
    if (rc != 0)
        FAIL("running %s: %s", argv[0], cio_err_name(rc));
    tp_run out = {r.status, r.out};
    r.out = NULL;
    cio_process_result_free(&r);
    if (!out.out)
        out.out = strdup("");
    return out;
}

/* ---- configurations --------------------------------------------------------- */

/* A client configuration trusting the test CA, with more options. */
#define TP_CLIENT(...)                                                                            \
    tp_config(&CIO_TLS_OPTIONS(.ca_file = tp_path("ca.pem"), __VA_ARGS__))
/* A server configuration with certificate NAME (.pem/.key). */
#define TP_SERVER(name, ...)                                                                      \
    tp_config(&CIO_TLS_OPTIONS(.server = true, .cert_file = tp_path(name ".pem"),                 \
                               .key_file = tp_path(name ".key"), __VA_ARGS__))

static inline cio_tls_config *tp_config(const cio_tls_options *o)
{
    cio_tls_config *cfg = NULL;
    int rc = cio_tls_config_new(o, &cfg);
    if (rc != 0)
        FAIL("cio_tls_config_new: %s (%s)", cio_err_name(rc), cio_tls_last_error());
    return cfg;
}

/* Fails unless the thread's last TLS error text mentions word (case
 * insensitive). */
#define EXPECT_TLS_ERROR_MENTIONS(word)                                                           \
    do {                                                                                          \
        const char *t_ = cio_tls_last_error();                                                    \
        if (!t_ || !strcasestr(t_, (word)))                                                       \
            FAIL("cio_tls_last_error() is \"%s\", expected it to mention \"%s\"",                \
                 t_ ? t_ : "(null)", (word));                                                     \
    } while (0)

/* ---- main --------------------------------------------------------------------- */

static inline bool tp_which(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* Cases that need a peer call this first: without it the case passes
 * having checked nothing, says so, and the program's exit is 77 (skipped)
 * if everything else passed. */
#define TP_NEED(have, what)                                                                       \
    do {                                                                                          \
        if (!(have)) {                                                                            \
            fprintf(stderr, "skipped: %s is not installed\n", what);                             \
            return;                                                                               \
        }                                                                                         \
    } while (0)

/* The program's main: looks the peers up, makes the certificates, runs the
 * cases, removes the directory. Exit 77 (skipped) when openssl is missing
 * (no certificate can be made) or when another peer is missing and every
 * case that could run passed. */
static inline int tp_main(int argc, char **argv)
{
    tp_have_openssl = tp_which("openssl");
    tp_have_curl = tp_which("curl");
    tp_have_python = system("python3 -c 'import ssl' >/dev/null 2>&1") == 0;
    tp_missing_any = !tp_have_openssl || !tp_have_curl || !tp_have_python;
    if (!tp_have_openssl) {
        printf("skipped: the openssl command is not installed (scripts/deps.sh test installs it)\n");
        return 77;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(tp_dir, sizeof tp_dir, "%s/cio-tlspeers-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tp_dir)) {
        perror("mkdtemp");
        return 2;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s' '%s' >/dev/null", CIO_TEST_TLS_CERTS, tp_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "tls-certs.sh failed in %s\n", tp_dir);
        return 2;
    }
    int rc = test_main(argc, argv);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tp_dir);
    if (rc == 0 && tp_missing_any) {
        printf("skipped in part: missing%s%s\n", tp_have_curl ? "" : " curl",
               tp_have_python ? "" : " python3 (with ssl)");
        return 77;
    }
    return rc;
}

#endif
