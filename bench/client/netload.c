/* netload: the one load client of the server workloads (echo_pingpong,
 * echo_stream, idle_conns, accept_rate). Plain C over raw epoll, no cio, so
 * that every server (cio's and the peers') is driven by the very same code.
 *
 * usage: netload MODE PORT [key=value ...]
 *
 *   pingpong  conns=100 size=64 secs=5 [count=K]
 *             N connections, each sending `size` bytes and waiting for the
 *             whole echo before it sends again, for `secs` seconds (or until
 *             K round trips in all). Then no new message is sent, the ones
 *             in flight are awaited and checked. Prints round_trips_per_s and
 *             round_trips (the op count).
 *   stream    size=65536 secs=5 inflight=4194304
 *             one connection, writes of `size` bytes as fast as the socket
 *             takes them, at most `inflight` bytes sent and not yet echoed;
 *             reads the echo into a `size`-byte buffer. Prints MB_per_s of
 *             echoed bytes (10^6 B/s) and chunks (echoed bytes / size).
 *   idle      conns=10000 parallel=100 pid=SERVER_PID
 *             reads the server's VmRSS (/proc/PID/status), then opens N
 *             connections, at most `parallel` being set up at once; each
 *             sends one byte and waits for its echo (so the server has
 *             accepted it and run its handler), then stays idle. When all
 *             N are idle, reads VmRSS again (once it is steady). Prints
 *             bytes_per_conn = (after - before) / N, and conns.
 *   accept    inflight=100 secs=5 [count=K]
 *             keeps `inflight` connections being made: connect, read the
 *             one byte the server sends, expect its close, close. Prints
 *             accepts_per_s and accepts (the op count).
 *
 * Common keys: host=127.0.0.1. Every socket gets TCP_NODELAY. The soft
 * RLIMIT_NOFILE is raised to the hard limit. The first JSON field `bench`
 * is the workload's name (echo_pingpong, echo_stream, idle_conns,
 * accept_rate); `impl` is impl=NAME (default "netload": bench/run puts the
 * server's name there). Any failure (a refused connection, a wrong echo, a
 * reset) exits 1 with a message: a broken server must not yield a figure. */
#include "../common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define KV_PROG "netload"
#include "loadclient.h"

static const char *impl_name = "netload";

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- pingpong ------------------------------------------------------------- */

struct pp_conn {
    int fd;
    bool connected;
    bool busy;  /* a message is in flight */
    size_t got; /* bytes of its echo received so far */
};

static int mode_pingpong(void)
{
    long nconns = (long)opt_num("conns", 100);
    size_t size = (size_t)opt_num("size", 64);
    double secs = opt_num("secs", 5);
    long count = (long)opt_num("count", 0);
    check_opts_used();
    if (nconns < 1 || size < 1)
        fail("conns and size must be at least 1");

    char *msg = malloc(size), *buf = malloc(size);
    struct pp_conn *c = calloc((size_t)nconns, sizeof *c);
    if (!msg || !buf || !c)
        fail("out of memory");
    for (size_t i = 0; i < size; i++)
        msg[i] = (char)('a' + i % 26);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    for (long i = 0; i < nconns; i++) {
        c[i].fd = start_connect();
        ep_ctl(ep, EPOLL_CTL_ADD, c[i].fd, EPOLLOUT, (uint64_t)i);
    }

    long done = 0, busy = 0, connected = 0;
    bool sending = true;
    uint64_t t0 = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0)
            fail("pingpong: no event for 10 s");
        for (int k = 0; k < n; k++) {
            struct pp_conn *p = &c[evs[k].data.u64];
            if (!p->connected) {
                check_connected(p->fd);
                p->connected = true;
                ep_ctl(ep, EPOLL_CTL_MOD, p->fd, EPOLLIN, evs[k].data.u64);
                if (++connected == nconns)
                    t0 = bench_now_ns(); /* every connection up: start together */
                continue;
            }
            ssize_t r = recv(p->fd, buf + p->got, size - p->got, 0);
            if (r < 0) {
                if (errno == EAGAIN)
                    continue;
                die("pingpong: recv");
            }
            if (r == 0 || !p->busy)
                fail(r == 0 ? "pingpong: the server closed a connection"
                            : "pingpong: bytes nobody asked for");
            p->got += (size_t)r;
            if (p->got < size)
                continue;
            if (memcmp(buf, msg, size) != 0)
                fail("pingpong: the echo differs from the message");
            p->got = 0;
            p->busy = false;
            busy--;
            done++;
            if (count && done + busy >= count)
                sending = false;
            if (sending) {
                if (send(p->fd, msg, size, MSG_NOSIGNAL) != (ssize_t)size)
                    die("pingpong: send");
                p->busy = true;
                busy++;
            }
        }
        if (connected == nconns && t0 && done == 0 && busy == 0 && sending) {
            /* First round: every connection sends its first message. */
            for (long i = 0; i < nconns; i++) {
                if (count && busy >= count)
                    break;
                if (send(c[i].fd, msg, size, MSG_NOSIGNAL) != (ssize_t)size)
                    die("pingpong: send");
                c[i].busy = true;
                busy++;
            }
        }
        if (sending && t0 && secs > 0 && !count && elapsed_s(t0) >= secs)
            sending = false;
        if (!sending && busy == 0)
            break;
    }
    double dt = elapsed_s(t0);
    for (long i = 0; i < nconns; i++)
        close(c[i].fd);
    close(ep);
    bench_emit("echo_pingpong", impl_name, "round_trips_per_s", "1/s", done / dt, "higher");
    bench_emit("echo_pingpong", impl_name, "round_trips", "", (double)done, "higher");
    return 0;
}

/* ---- stream --------------------------------------------------------------- */

static int mode_stream(void)
{
    size_t size = (size_t)opt_num("size", 65536);
    double secs = opt_num("secs", 5);
    uint64_t cap = (uint64_t)opt_num("inflight", 4 << 20);
    check_opts_used();
    if (size < 1 || cap < size)
        fail("stream: size must be at least 1 and inflight at least size");

    char *chunk = malloc(size), *buf = malloc(size);
    if (!chunk || !buf)
        fail("out of memory");
    for (size_t i = 0; i < size; i++)
        chunk[i] = (char)(i * 7 + 3);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    int fd = start_connect();
    ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLOUT | EPOLLET, 0);

    struct epoll_event ev;
    bool can_read = false, can_write = false, connected = false;
    while (!connected) { /* edge-triggered: wait for the connection */
        int n = epoll_wait(ep, &ev, 1, 10000);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        if (n == 0)
            fail("stream: could not connect within 10 s");
        if (n == 1) {
            check_connected(fd);
            connected = true;
            can_write = (ev.events & EPOLLOUT) != 0;
            can_read = (ev.events & EPOLLIN) != 0;
        }
    }

    uint64_t sent = 0, got = 0, t0 = bench_now_ns();
    size_t off = 0; /* where in the chunk the next send starts */
    bool sending = true;
    for (;;) {
        while (can_read) {
            ssize_t r = recv(fd, buf, size, 0);
            if (r > 0) {
                got += (uint64_t)r;
                if ((size_t)r < size)
                    can_read = false; /* a short read drained the socket */
            } else if (r == 0) {
                fail("stream: the server closed the connection");
            } else if (errno == EAGAIN) {
                can_read = false;
            } else {
                die("stream: recv");
            }
        }
        if (got > sent)
            fail("stream: more bytes came back than were sent");
        while (sending && can_write && sent - got < cap) {
            size_t len = size - off;
            if (sent - got + len > cap)
                len = (size_t)(cap - (sent - got));
            ssize_t w = send(fd, chunk + off, len, MSG_NOSIGNAL);
            if (w > 0) {
                sent += (uint64_t)w;
                off = (off + (size_t)w) % size;
            } else if (errno == EAGAIN) {
                can_write = false;
            } else {
                die("stream: send");
            }
        }
        if (sending && elapsed_s(t0) >= secs)
            sending = false;
        if (!sending && got == sent)
            break;
        if (can_read || (sending && can_write && sent - got < cap))
            continue;
        int n = epoll_wait(ep, &ev, 1, 10000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0)
            fail("stream: no progress for 10 s");
        if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            can_read = true;
        if (ev.events & EPOLLOUT)
            can_write = true;
    }
    double dt = elapsed_s(t0);
    close(fd);
    close(ep);
    bench_emit("echo_stream", impl_name, "MB_per_s", "MB/s", got / dt / 1e6, "higher");
    bench_emit("echo_stream", impl_name, "chunks", "", (double)got / (double)size, "higher");
    return 0;
}

/* ---- idle ----------------------------------------------------------------- */

static long server_rss_kib(const char *pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        die(path);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    if (kib < 0)
        fail("idle: no VmRSS in the server's /proc/PID/status");
    return kib;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The server's VmRSS once two reads 100 ms apart agree within 0.5% (at most
 * 2 s): a server may still be finishing the last handlers. */
static long steady_rss_kib(const char *pid)
{
    long prev = server_rss_kib(pid);
    for (int i = 0; i < 20; i++) {
        sleep_ms(100);
        long now = server_rss_kib(pid);
        long diff = now > prev ? now - prev : prev - now;
        if (diff * 200 <= now)
            return now;
        prev = now;
    }
    return prev;
}

enum { IDLE_CONNECTING, IDLE_SENT, IDLE_IDLE };

static int mode_idle(void)
{
    long nconns = (long)opt_num("conns", 10000);
    long parallel = (long)opt_num("parallel", 100);
    const char *pid = opt_str("pid", NULL);
    check_opts_used();
    if (!pid)
        fail("idle: pid=SERVER_PID is required");
    if (nconns < 1 || parallel < 1)
        fail("idle: conns and parallel must be at least 1");

    int *fds = malloc((size_t)nconns * sizeof *fds);
    unsigned char *state = calloc((size_t)nconns, 1);
    if (!fds || !state)
        fail("out of memory");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");

    long before = steady_rss_kib(pid);
    uint64_t t0 = bench_now_ns();
    long started = 0, idle = 0;
    struct epoll_event evs[256];
    while (idle < nconns) {
        while (started < nconns && started - idle < parallel) {
            fds[started] = start_connect();
            ep_ctl(ep, EPOLL_CTL_ADD, fds[started], EPOLLOUT, (uint64_t)started);
            started++;
        }
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0)
            fail("idle: no event for 10 s");
        for (int k = 0; k < n; k++) {
            long i = (long)evs[k].data.u64;
            int fd = fds[i];
            if (state[i] == IDLE_CONNECTING) {
                check_connected(fd);
                if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
                    die("idle: send");
                ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLIN, (uint64_t)i);
                state[i] = IDLE_SENT;
            } else {
                char b;
                ssize_t r = recv(fd, &b, 1, 0);
                if (r < 0 && errno == EAGAIN)
                    continue;
                if (r < 0)
                    die("idle: recv");
                if (r == 0 || b != 'x')
                    fail("idle: the server did not echo");
                /* Idle from now on: no more events wanted. */
                ep_ctl(ep, EPOLL_CTL_DEL, fd, 0, 0);
                state[i] = IDLE_IDLE;
                idle++;
            }
        }
    }
    double setup = elapsed_s(t0);
    long after = steady_rss_kib(pid);
    /* Still there? A server that dropped idle connections would look cheap. */
    for (long i = 0; i < nconns; i++) {
        char b;
        ssize_t r = recv(fds[i], &b, 1, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN))
            fail("idle: the server closed an idle connection");
    }
    for (long i = 0; i < nconns; i++)
        close(fds[i]);
    close(ep);
    fprintf(stderr, "netload: idle: server VmRSS %ld KiB before, %ld KiB with %ld connections "
                    "(set up in %.2f s)\n", before, after, nconns, setup);
    bench_emit("idle_conns", impl_name, "bytes_per_conn", "B",
               (double)(after - before) * 1024.0 / (double)nconns, "lower");
    bench_emit("idle_conns", impl_name, "conns", "", (double)nconns, "higher");
    return 0;
}

/* ---- accept --------------------------------------------------------------- */

static int mode_accept(void)
{
    long inflight = (long)opt_num("inflight", 100);
    double secs = opt_num("secs", 5);
    long count = (long)opt_num("count", 0);
    check_opts_used();
    if (inflight < 1)
        fail("accept: inflight must be at least 1");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    long started = 0, done = 0, open_now = 0;
    bool starting = true;
    uint64_t t0 = bench_now_ns();
    struct epoll_event evs[256];
    for (;;) {
        while (starting && open_now < inflight) {
            int fd = start_connect();
            /* Readable once connected and the server's byte (or an error)
             * arrived: no separate wait for the connection. */
            ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN, (uint64_t)fd);
            started++;
            open_now++;
            if (count && started >= count)
                starting = false;
        }
        if (open_now == 0)
            break;
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0)
            fail("accept: no event for 10 s");
        for (int k = 0; k < n; k++) {
            int fd = (int)evs[k].data.u64;
            char b[2];
            ssize_t r = recv(fd, b, sizeof b, 0);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r < 0)
                die("accept: recv");
            if (r == 0 || b[0] != 'x')
                fail("accept: the server closed without sending its byte");
            close(fd); /* also leaves the epoll set */
            open_now--;
            done++;
        }
        if (starting && !count && elapsed_s(t0) >= secs)
            starting = false;
    }
    double dt = elapsed_s(t0);
    close(ep);
    bench_emit("accept_rate", impl_name, "accepts_per_s", "1/s", done / dt, "higher");
    bench_emit("accept_rate", impl_name, "accepts", "", (double)done, "higher");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: netload {pingpong|stream|idle|accept} PORT [key=value ...]\n");
        return 2;
    }
    if (!kv_parse(3, argc, argv))
        return 2;
    if (!set_server(argv[2]))
        return 2;
    impl_name = opt_str("impl", impl_name);
    raise_nofile();
    const char *mode = argv[1];
    if (strcmp(mode, "pingpong") == 0)
        return mode_pingpong();
    if (strcmp(mode, "stream") == 0)
        return mode_stream();
    if (strcmp(mode, "idle") == 0)
        return mode_idle();
    if (strcmp(mode, "accept") == 0)
        return mode_accept();
    fprintf(stderr, "netload: unknown mode %s\n", mode);
    return 2;
}
