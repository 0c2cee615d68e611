// cio-test: threaded
/* cio_http_serve (a server for the life of a task, shut down gracefully
 * when the task is cancelled or its deadline passes) and cio_http_run
 * (every core: workers sharing one port with SO_REUSEPORT, stopped by
 * SIGINT/SIGTERM with a graceful shutdown across all of them).
 *
 * cio_http_run blocks and watches signals, so its cases run it in a child
 * process and talk to it over loopback with plain blocking sockets: the
 * child's listening sockets and their port are read from /proc (it binds
 * port 0); a handler tells the parent through a pipe that a request is in
 * flight, and waits for the parent's byte on another pipe before it
 * answers, so the signal is sent while the request is in flight and the
 * request is let go only once the shutdown has begun (the listeners are
 * gone). Waits for the child are bounded polls (a minute), never sleeps
 * that a result depends on. */
#include <arpa/inet.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "task/task_util.h"

#define HOUR 3600.0

static void strict_loop_reports(void)
{
    cio_loop_set_report_handler(cio_current_loop(), test_fail_on_report, NULL);
}

/* ---- an app ------------------------------------------------------------- */

static int release_fd = -1; /* /slow waits for a byte here */
static int started_fd = -1; /* /slow writes a byte here when it starts */
static cio_event *started_ev, *release_ev; /* the same, in-process */

static int h_hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    char body[32];
    snprintf(body, sizeof body, "hello w%d", cio_parallel_index());
    return cio_http_response_text(res, 200, body);
}

static int h_slow(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    if (started_ev) {
        cio_event_set(started_ev);
        int rc = cio_event_wait(release_ev);
        if (rc)
            return rc;
    } else {
        char c = 's';
        EXPECT_EQ(1, write(started_fd, &c, 1));
        ssize_t n = cio_fd_read(release_fd, &c, 1);
        cio_fd_forget(release_fd);
        if (n < 0)
            return (int)n;
    }
    return cio_http_response_text(res, 200, "done");
}

static cio_http_app *app_new(void)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/", h_hello, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/slow", h_slow, NULL));
    return app;
}

static cio_addr loopback(uint16_t port)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", port, &a));
    return a;
}

static uint16_t port_of(const cio_addr *a)
{
    return ntohs(a->u.in4.sin_port);
}

/* ---- cio_http_serve, in-process ---------------------------------------------- */

struct serve_args {
    cio_http_app *app;
    cio_addr addr;
    cio_http_server_options opts;
    cio_addr ready;
};

static int serve_task(void *arg, void **result)
{
    (void)result;
    struct serve_args *sa = arg;
    return cio_http_serve(sa->app, &sa->addr, &sa->opts, &sa->ready);
}

/* A request on a new connection; the whole response (read to the end:
 * Connection: close) in *out, NUL-terminated, the caller's to free. */
static int get(const cio_addr *a, const char *path, char **out)
{
    cio_stream *s;
    int rc = cio_stream_connect(a, NULL, NULL, &s);
    if (rc)
        return rc;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     path);
    rc = cio_stream_write(s, req, (size_t)n);
    void *data = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = cio_stream_read_all(s, 1 << 20, &data, &len);
    cio_stream_close(s);
    if (rc)
        return rc;
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = 0;
    free(data);
    *out = text;
    return 0;
}

static void expect_response(char *resp, const char *status_line, const char *body)
{
    if (strncmp(resp, status_line, strlen(status_line)) != 0)
        FAIL("expected \"%s\", got \"%s\"", status_line, resp);
    const char *b = strstr(resp, "\r\n\r\n");
    EXPECT_TRUE(b != NULL);
    if (body && strncmp(b + 4, body, strlen(body)) != 0)
        FAIL("expected body \"%s\", got \"%s\"", body, b + 4);
    free(resp);
}

static cio_task *spawn_serve(struct serve_args *sa)
{
    cio_task *t;
    EXPECT_OK(cio_spawn(serve_task, sa, &t));
    /* The serve task runs up to its first suspension, listening by then. */
    for (int i = 0; i < 1000 && sa->ready.len == 0; i++)
        EXPECT_OK(cio_yield());
    EXPECT_TRUE(sa->ready.len != 0);
    return t;
}

static int main_serve_args(void *arg, void **result)
{
    (void)arg, (void)result;
    strict_loop_reports();
    cio_http_app *app = app_new();
    cio_addr a = loopback(0);
    EXPECT_ERR(-EINVAL, cio_http_serve(NULL, &a, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_http_serve(app, NULL, NULL, NULL));
    cio_http_server_options bad = {.max_headers = 1};
    EXPECT_ERR(-EINVAL, cio_http_serve(app, &a, &bad, NULL));
    struct {
        cio_http_server_options o;
        uint64_t extra;
    } newer = {.o = CIO_HTTP_SERVER_OPTIONS_INIT, .extra = 1};
    newer.o.size = sizeof newer;
    EXPECT_ERR(-E2BIG, cio_http_serve(app, &a, &newer.o, NULL));
    /* A port in use (a listener without SO_REUSEPORT). */
    int lfd;
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd));
    cio_addr used;
    EXPECT_OK(cio_socket_local(lfd, &used));
    EXPECT_ERR(-EADDRINUSE, cio_http_serve(app, &used, NULL, NULL));
    close(lfd);
    cio_http_app_free(app);
    return 0;
}

static void cb_serve(void *arg)
{
    cio_addr a = loopback(0);
    *(int *)arg = cio_http_serve((cio_http_app *)(uintptr_t)1, &a, NULL, NULL);
}

TEST(serve_argument_checks)
{
    int fd0 = test_fd_baseline();
    cio_addr a = loopback(0);
    cio_http_app *app = app_new();
    EXPECT_ERR(-EPERM, cio_http_serve(app, &a, NULL, NULL)); /* no task */
    cio_loop *loop = test_strict_loop_new();
    int rc = 0;
    EXPECT_OK(cio_call_soon(loop, cb_serve, &rc));
    test_drain(loop);
    EXPECT_ERR(-EPERM, rc); /* a callback is not a task */
    CLOSE_LOOP(loop);
    cio_http_app_free(app);
    EXPECT_OK(cio_run(main_serve_args, NULL, NULL));
    EXPECT_EQ(fd0, test_fd_count());
}

/* Requests are served until the task is cancelled; cancelling it shuts
 * the server down and cio_http_serve returns -ECANCELED. */
static int main_serve_cancel(void *arg, void **result)
{
    (void)arg, (void)result;
    strict_loop_reports();
    struct serve_args sa = {.app = app_new(), .addr = loopback(0),
                            .opts = CIO_HTTP_SERVER_OPTIONS_INIT};
    cio_task *t = spawn_serve(&sa);
    EXPECT_NE(0, port_of(&sa.ready));
    for (int i = 0; i < 3; i++) {
        char *resp;
        EXPECT_OK(get(&sa.ready, "/", &resp));
        expect_response(resp, "HTTP/1.1 200", "hello w-1");
    }
    cio_future_cancel(t);
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    /* The listener is gone. */
    cio_stream *s;
    EXPECT_ERR(-ECONNREFUSED, cio_stream_connect(&sa.ready, NULL, NULL, &s));
    cio_http_app_free(sa.app);
    return 0;
}

TEST(serve_until_cancelled)
{
    int fd0 = test_fd_baseline();
    EXPECT_OK(cio_run(main_serve_cancel, NULL, NULL));
    EXPECT_EQ(fd0, test_fd_count());
}

/* ready may be NULL. */
static int main_serve_no_ready(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app = app_new();
    cio_addr a = loopback(0);
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.01));
    EXPECT_ERR(-ETIMEDOUT, cio_http_serve(app, &a, NULL, NULL));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    cio_http_app_free(app);
    return 0;
}

/* A deadline ends it as a cancellation does: -ETIMEDOUT. */
TEST(serve_until_deadline)
{
    int fd0 = test_fd_baseline();
    EXPECT_OK(cio_run(main_serve_no_ready, NULL, NULL));
    EXPECT_EQ(fd0, test_fd_count());
}

/* Graceful: a request in flight when the task is cancelled is finished
 * (with Connection: close), an idle keep-alive connection is closed, new
 * connections are refused; then cio_http_serve returns. */
struct client {
    cio_addr addr;
    char *resp;
    int rc;
};

static int slow_client(void *arg, void **result)
{
    (void)result;
    struct client *c = arg;
    c->rc = get(&c->addr, "/slow", &c->resp);
    return 0;
}

static int main_serve_graceful(void *arg, void **result)
{
    (void)arg, (void)result;
    strict_loop_reports();
    EXPECT_OK(cio_event_new(&started_ev));
    EXPECT_OK(cio_event_new(&release_ev));
    struct serve_args sa = {.app = app_new(), .addr = loopback(0),
                            .opts = CIO_HTTP_SERVER_OPTIONS(.shutdown_grace = HOUR)};
    cio_task *t = spawn_serve(&sa);
    /* An idle keep-alive connection: one request answered, then nothing. */
    cio_stream *idle;
    EXPECT_OK(cio_stream_connect(&sa.ready, NULL, NULL, &idle));
    const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    EXPECT_OK(cio_stream_write(idle, req, sizeof req - 1));
    char buf[512];
    ssize_t n = cio_stream_read_until(idle, "hello w-1", 9, buf, sizeof buf);
    EXPECT_TRUE(n > 0);
    /* A request in flight. */
    struct client c = {.addr = sa.ready};
    cio_task *ct;
    EXPECT_OK(cio_spawn(slow_client, &c, &ct));
    EXPECT_OK(cio_event_wait(started_ev));
    cio_future_cancel(t);
    /* The shutdown begins when the serve task next runs: new connections
     * are refused from then on. */
    int refused = 0;
    for (int i = 0; i < 1000 && !refused; i++) {
        cio_stream *s;
        int rc = cio_stream_connect(&sa.ready, NULL, NULL, &s);
        if (rc == 0 || rc == -ECONNRESET) { /* one the listener's queue had */
            if (rc == 0)
                cio_stream_close(s);
            EXPECT_OK(cio_yield());
        } else {
            EXPECT_ERR(-ECONNREFUSED, rc);
            refused = 1;
        }
    }
    EXPECT_TRUE(refused);
    /* The idle connection is closed. */
    EXPECT_EQ(0, cio_stream_read(idle, buf, sizeof buf));
    cio_stream_close(idle);
    EXPECT_FALSE(cio_future_is_done(t));
    /* The request in flight finishes, then the server is gone. */
    cio_event_set(release_ev);
    EXPECT_OK(cio_await(ct, NULL));
    cio_future_unref(ct);
    EXPECT_OK(c.rc);
    EXPECT_TRUE(strcasestr(c.resp, "\r\nconnection: close\r\n") != NULL);
    expect_response(c.resp, "HTTP/1.1 200", "done");
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    cio_http_app_free(sa.app);
    cio_event_free(started_ev);
    cio_event_free(release_ev);
    return 0;
}

TEST(serve_graceful_shutdown)
{
    int fd0 = test_fd_baseline();
    EXPECT_OK(cio_run(main_serve_graceful, NULL, NULL));
    EXPECT_EQ(fd0, test_fd_count());
}

/* The grace is opts->shutdown_grace: a request still running after it is
 * cancelled, and cio_http_serve returns all the same. */
static int main_serve_grace_over(void *arg, void **result)
{
    (void)arg, (void)result;
    EXPECT_OK(cio_event_new(&started_ev));
    EXPECT_OK(cio_event_new(&release_ev)); /* never set */
    struct serve_args sa = {.app = app_new(), .addr = loopback(0),
                            .opts = CIO_HTTP_SERVER_OPTIONS(.shutdown_grace = 0.01)};
    cio_task *t = spawn_serve(&sa);
    struct client c = {.addr = sa.ready};
    cio_task *ct;
    EXPECT_OK(cio_spawn(slow_client, &c, &ct));
    EXPECT_OK(cio_event_wait(started_ev));
    cio_future_cancel(t);
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    /* The client saw the connection end without a 200. */
    EXPECT_OK(cio_await(ct, NULL));
    cio_future_unref(ct);
    if (c.rc == 0) {
        EXPECT_TRUE(strstr(c.resp, "done") == NULL);
        free(c.resp);
    }
    cio_http_app_free(sa.app);
    cio_event_free(started_ev);
    cio_event_free(release_ev);
    return 0;
}

TEST(serve_grace_runs_out)
{
    int fd0 = test_fd_baseline();
    EXPECT_OK(cio_run(main_serve_grace_over, NULL, NULL));
    EXPECT_EQ(fd0, test_fd_count());
}

/* ---- cio_http_run in a child process ------------------------------------------- */

struct child {
    pid_t pid;
    int started; /* the parent's end: a byte per /slow that started */
    int release; /* the parent's end: a byte lets one /slow answer */
};

static void child_exit_rc(int rc)
{
    test_child_exit(rc == 0 ? 0 : (-rc & 0xff) ? (-rc & 0xff) : 1);
}

static void child_ignore_late_signals(void);

static struct child run_child(const cio_addr *addr, size_t threads, const cio_socket_options *so)
{
    int sp[2], rp[2];
    EXPECT_OK(pipe2(sp, O_CLOEXEC));
    EXPECT_OK(pipe2(rp, O_CLOEXEC));
    fflush(NULL);
    pid_t pid = fork();
    EXPECT_TRUE(pid >= 0);
    if (pid == 0) {
        alarm(120);
        close(sp[0]);
        close(rp[1]);
        started_fd = sp[1];
        release_fd = rp[0];
        child_ignore_late_signals();
        cio_http_app *app = app_new();
        int rc = cio_http_run(app, addr,
                              &CIO_HTTP_SERVER_OPTIONS(.shutdown_grace = HOUR, .socket = so),
                              threads);
        cio_http_app_free(app);
        close(sp[1]);
        close(rp[0]);
        child_exit_rc(rc);
    }
    close(sp[1]);
    close(rp[0]);
    return (struct child){.pid = pid, .started = sp[0], .release = rp[1]};
}

static int child_wait(struct child *c)
{
    int st = 0;
    while (waitpid(c->pid, &st, 0) < 0)
        if (errno != EINTR)
            FAIL("waitpid: %s", strerror(errno));
    close(c->started);
    close(c->release);
    return st;
}

/* The TCP ports the child listens on (IPv4), from /proc: its socket
 * inodes, then /proc/PID/net/tcp's LISTEN (0A) entries. */
static int child_listen_ports(pid_t pid, int *ports, int max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    unsigned long inodes[256];
    int ni = 0;
    struct dirent *e;
    while ((e = readdir(d)) && ni < 256) {
        char lp[400], target[64];
        snprintf(lp, sizeof lp, "%s/%s", path, e->d_name);
        ssize_t n = readlink(lp, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        unsigned long ino;
        if (sscanf(target, "socket:[%lu]", &ino) == 1)
            inodes[ni++] = ino;
    }
    closedir(d);
    snprintf(path, sizeof path, "/proc/%d/net/tcp", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int np = 0;
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f) && np < max) {
        unsigned la, lport, st;
        unsigned long ino;
        if (sscanf(line, " %*d: %x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &la, &lport,
                   &st, &ino) != 4)
            continue;
        if (st != 0x0A)
            continue;
        for (int i = 0; i < ni; i++)
            if (inodes[i] == ino)
                ports[np++] = (int)lport;
    }
    fclose(f);
    return np;
}

static void pause_a_little(void)
{
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Waits (a minute at most) until the child listens on n sockets, and
 * returns their port, checking they share it. */
static int wait_listening(pid_t pid, int n)
{
    int ports[16];
    for (int i = 0; i < 12000; i++) {
        int got = child_listen_ports(pid, ports, 16);
        if (got == n) {
            for (int k = 1; k < n; k++)
                EXPECT_EQ(ports[0], ports[k]);
            return ports[0];
        }
        EXPECT_TRUE(got < n);
        pause_a_little();
    }
    FAIL("the child did not listen on %d sockets", n);
}

/* Under ThreadSanitizer a signal can be lost: TSan defers an asynchronous
 * signal to the next intercepted call of the context it interrupted, and
 * that context may be a task's fiber that then suspends for good (or
 * TSan's own background thread), so cio's handler never runs. Seen as a
 * rare hang in CI, never without TSan. The tests therefore repeat a
 * signal until the child reacts, as a user repeats Ctrl-C; the child
 * installs a handler of its own first (cio puts it back after the run), so
 * a repeat arriving after cio stopped watching is harmless. */
static void noop_handler(int signo)
{
    (void)signo;
}

static void child_ignore_late_signals(void)
{
    struct sigaction sa = {.sa_handler = noop_handler};
    sigemptyset(&sa.sa_mask);
    EXPECT_OK(sigaction(SIGINT, &sa, NULL));
    EXPECT_OK(sigaction(SIGTERM, &sa, NULL));
}

static int child_listen_ports(pid_t pid, int *ports, int max);
static void pause_a_little(void);

/* Sends signo until the child listens no more (a minute at most). */
static void signal_until_not_listening(pid_t pid, int signo)
{
    int ports[16];
    for (int i = 0; i < 12000; i++) {
        if (i % 400 == 0) /* every 2 s */
            EXPECT_OK(kill(pid, signo));
        if (child_listen_ports(pid, ports, 16) == 0)
            return;
        pause_a_little();
    }
    FAIL("the child still listens");
}

/* Sends signo until the child exits (a minute at most); returns its
 * status. */
static int signal_until_exit(struct child *c, int signo)
{
    for (int i = 0; i < 12000; i++) {
        if (i % 400 == 0)
            EXPECT_OK(kill(c->pid, signo));
        int st = 0;
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid) {
            close(c->started);
            close(c->release);
            return st;
        }
        EXPECT_TRUE(r == 0 || (r < 0 && errno == EINTR));
        pause_a_little();
    }
    FAIL("the child did not exit");
}

/* Blocking client side (the parent runs no loop). */
static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        EXPECT_TRUE(n > 0);
        s += n;
        len -= (size_t)n;
    }
}

/* Reads until the peer closes (or, with until non-NULL, until the text
 * holds it), a minute at most. Returns the bytes read. */
static size_t read_resp(int fd, char *buf, size_t len, const char *until)
{
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 60000);
        if (r < 0 && errno == EINTR)
            continue;
        EXPECT_EQ(1, r);
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = 0;
        if (until && strstr(buf, until))
            break;
        EXPECT_TRUE(got + 1 < len);
    }
    buf[got] = 0;
    return got;
}

static void read_byte(int fd)
{
    char c;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_EQ(1, poll(&p, 1, 60000));
    EXPECT_EQ(1, read(fd, &c, 1));
}

/* Two workers, one port: both listen on it, both serve. The caller's
 * socket options are used, with SO_REUSEPORT set whatever they say. */
TEST(run_workers_share_port_zero)
{
    cio_addr a = loopback(0);
    struct child c = run_child(&a, 2, &CIO_SOCKET_OPTIONS(.reuseport = false, .backlog = 64));
    int port = wait_listening(c.pid, 2);
    bool seen[2] = {false, false};
    for (int i = 0; i < 400 && !(seen[0] && seen[1]); i++) {
        int fd = tcp_connect(port);
        EXPECT_TRUE(fd >= 0);
        send_all(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        char buf[1024];
        read_resp(fd, buf, sizeof buf, NULL);
        close(fd);
        EXPECT_TRUE(strncmp(buf, "HTTP/1.1 200", 12) == 0);
        const char *w = strstr(buf, "hello w");
        EXPECT_TRUE(w != NULL);
        int idx = w[7] - '0';
        EXPECT_TRUE(idx == 0 || idx == 1);
        seen[idx] = true;
    }
    EXPECT_TRUE(seen[0] && seen[1]);
    int st = signal_until_exit(&c, SIGTERM);
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(0, WEXITSTATUS(st));
}

/* SIGTERM with a request in flight and an idle keep-alive connection:
 * every worker stops accepting, the idle connection is closed, the
 * request in flight is answered (Connection: close), and the process
 * exits 0. */
static void graceful_case(int signo, size_t threads)
{
    cio_addr a = loopback(0);
    struct child c = run_child(&a, threads, NULL);
    int port = wait_listening(c.pid, (int)threads);
    int idle = tcp_connect(port);
    EXPECT_TRUE(idle >= 0);
    send_all(idle, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    char buf[2048];
    read_resp(idle, buf, sizeof buf, "hello w");
    int slow = tcp_connect(port);
    EXPECT_TRUE(slow >= 0);
    send_all(slow, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    read_byte(c.started); /* the handler runs */
    signal_until_not_listening(c.pid, signo); /* the shutdown has begun, in every worker */
    EXPECT_TRUE(tcp_connect(port) < 0);
    EXPECT_EQ(0, read_resp(idle, buf, sizeof buf, NULL)); /* closed */
    close(idle);
    EXPECT_EQ(1, write(c.release, "r", 1));
    read_resp(slow, buf, sizeof buf, NULL); /* to the end: the server closes */
    close(slow);
    EXPECT_TRUE(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    EXPECT_TRUE(strcasestr(buf, "\r\nconnection: close\r\n") != NULL);
    EXPECT_TRUE(strstr(buf, "\r\n\r\ndone") != NULL);
    int st = child_wait(&c);
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST(run_sigterm_finishes_in_flight_and_exits_0)
{
    graceful_case(SIGTERM, 2);
}

TEST(run_sigint_one_worker)
{
    graceful_case(SIGINT, 1);
}

/* A Unix address: one worker (threads 0), served until SIGTERM. */
TEST(run_unix_address)
{
    char dir[] = "/tmp/cio-run-XXXXXX";
    EXPECT_TRUE(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%.40s/s", dir);
    cio_addr a;
    EXPECT_OK(cio_addr_unix(path, &a));
    EXPECT_ERR(-EINVAL, cio_http_run((cio_http_app *)(uintptr_t)1, &a, NULL, 2));
    struct child c = run_child(&a, 0, NULL);
    int fd = -1;
    for (int i = 0; i < 12000 && fd < 0; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, path, strlen(path) + 1);
        if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
            close(fd);
            fd = -1;
            pause_a_little();
        }
    }
    EXPECT_TRUE(fd >= 0);
    send_all(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    char buf[1024];
    read_resp(fd, buf, sizeof buf, NULL);
    close(fd);
    EXPECT_TRUE(strstr(buf, "hello w0") != NULL);
    int st = signal_until_exit(&c, SIGTERM);
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(0, WEXITSTATUS(st));
    unlink(path);
    rmdir(dir);
}

/* SIGTERM at once, while workers are starting, binding, or waiting for
 * worker 0's port: every round ends with 0. A thread sends the signal as
 * soon as some worker watches it (the disposition is cio's), in-process,
 * and repeats it until the run returned (see child_ignore_late_signals:
 * the test's own handler takes a late one). */
struct race {
    pthread_t target;
    _Atomic bool done;
};

static void *sigterm_when_watched(void *arg)
{
    struct race *r = arg;
    bool sent = false;
    for (long i = 0; i < 6000000 && !atomic_load(&r->done); i++) {
        struct sigaction now;
        if (!sent && sigaction(SIGTERM, NULL, &now) == 0 && now.sa_handler != noop_handler) {
            EXPECT_OK(pthread_kill(r->target, SIGTERM));
            sent = true;
            i = 0;
        } else if (sent && i % 200000 == 0) { /* not over yet: once more */
            EXPECT_OK(pthread_kill(r->target, SIGTERM));
        }
        sched_yield();
    }
    if (!atomic_load(&r->done))
        FAIL("the run did not end on SIGTERM");
    return NULL;
}

TEST(run_stop_races_with_port_sharing)
{
    int fd0 = test_fd_baseline();
    cio_http_app *app = app_new();
    cio_addr a = loopback(0);
    child_ignore_late_signals(); /* this test forks no child: it is the process */
    for (int round = 0; round < 30; round++) {
        pthread_t t;
        struct race r = {.target = pthread_self()};
        EXPECT_OK(pthread_create(&t, NULL, sigterm_when_watched, &r));
        int rc = cio_http_run(app, &a, NULL, 3);
        atomic_store(&r.done, true);
        EXPECT_OK(pthread_join(t, NULL));
        if (rc)
            FAIL("round %d: %s", round, cio_err_name(rc));
    }
    cio_http_app_free(app);
    EXPECT_EQ(fd0, test_fd_count());
}

/* Errors: the arguments, and a worker's error (the port is taken). */
static int main_run_deadlk(void *arg, void **result)
{
    (void)result;
    cio_addr a = loopback(0);
    EXPECT_ERR(-EDEADLK, cio_http_run(arg, &a, NULL, 1));
    return 0;
}

TEST(run_errors)
{
    int fd0 = test_fd_baseline();
    cio_http_app *app = app_new();
    cio_addr a = loopback(0);
    EXPECT_ERR(-EINVAL, cio_http_run(NULL, &a, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_http_run(app, NULL, NULL, 1));
    cio_http_server_options bad = {.max_headers = 1};
    EXPECT_ERR(-EINVAL, cio_http_run(app, &a, &bad, 1));
    cio_socket_options badsock = {.backlog = 1};
    EXPECT_ERR(-EINVAL, cio_http_run(app, &a, &CIO_HTTP_SERVER_OPTIONS(.socket = &badsock), 1));
    struct {
        cio_http_server_options o;
        uint64_t extra;
    } newer = {.o = CIO_HTTP_SERVER_OPTIONS_INIT, .extra = 1};
    newer.o.size = sizeof newer;
    EXPECT_ERR(-E2BIG, cio_http_run(app, &a, &newer.o, 1));
    EXPECT_ERR(-EINVAL, cio_http_run(app, &a, NULL, 1000000));
    /* Options every worker refuses: the run returns their error. */
    EXPECT_ERR(-EINVAL, cio_http_run(app, &a, &CIO_HTTP_SERVER_OPTIONS(.server_header = "a\nb"), 2));
    EXPECT_OK(cio_run(main_run_deadlk, app, NULL));
    /* The port is taken (a listener without SO_REUSEPORT): worker 0 fails,
     * the others are stopped, the run returns its error. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_OK(bind(lfd, (struct sockaddr *)&sin, sizeof sin));
    EXPECT_OK(listen(lfd, 4));
    socklen_t sl = sizeof sin;
    EXPECT_OK(getsockname(lfd, (struct sockaddr *)&sin, &sl));
    cio_addr used = loopback(ntohs(sin.sin_port));
    EXPECT_ERR(-EADDRINUSE, cio_http_run(app, &used, NULL, 2));
    EXPECT_ERR(-EADDRINUSE, cio_http_run(app, &used, NULL, 1));
    close(lfd);
    cio_http_app_free(app);
    EXPECT_EQ(fd0, test_fd_count());
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
