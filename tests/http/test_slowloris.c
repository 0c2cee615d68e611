/* Slowloris against the HTTP server: Debian's slowhttptest opens many
 * connections that send their header section a few bytes at a time, while
 * the server runs with a small header_timeout (1 s: the total the header
 * section may take, which trickling cannot extend) and a small
 * max_connections. Throughout the attack a probe client keeps making
 * ordinary requests on fresh connections, and every one must get 200 (the
 * bound on each is generous: a probe may wait behind the attack's
 * connections, never forever); the server's descriptor count (this
 * process's /proc/self/fd: the server runs in a thread here) never exceeds
 * its cap plus the few descriptors it always has. Exits 77 (skip) without
 * slowhttptest. */
#define HT_READ_TIMEOUT 60
#include "http_test_util.h"
#include "peer_util.h"

enum { CAP = 20 };

static void attack(const char *mode, const char *extra_flag)
{
    int base = test_fd_baseline();
    struct tsrv s = {0};
    s.opts.header_timeout = 1.0;
    s.opts.max_connections = CAP;
    s.opts.body_min_rate = 1000;
    s.opts.body_rate_window = 1.0;
    tsrv_start(&s);
    int serving = test_fd_count(); /* the listener and the loop's own */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", s.port);
    /* 150 connections at 50 per second, follow-up data every second,
     * for 8 s. */
    char *argv[] = {"slowhttptest", (char *)mode, "-c", "150", "-r", "50", "-i", "1", "-l", "8",
                    "-x", "24", "-p", "3", "-u", url, (char *)extra_flag, NULL};
    if (!extra_flag[0])
        argv[16] = NULL;
    int out_fd;
    pid_t pid = peer_spawn(argv, NULL, &out_fd);
    int probes = 0, max_fds = 0;
    double end = peer_now() + 120; /* hang bound */
    bool done = false;
    int st = 0;
    while (!done) {
        if (peer_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            FAIL("slowhttptest did not end");
        }
        if (waitpid(pid, &st, WNOHANG) == pid)
            done = true;
        int fds = test_fd_count();
        if (fds > max_fds)
            max_fds = fds;
        struct resp p;
        int rc = http_get_once(s.port, "GET /probe HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                               &p);
        if (rc != 0 || p.status != 200) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            char *o = peer_slurp(out_fd);
            FAIL("probe %d: %s, status %d (slowhttptest said:\n%s)", probes + 1, cio_err_name(rc),
                 p.status, o);
        }
        resp_free(&p);
        probes++;
        fds = test_fd_count();
        if (fds > max_fds)
            max_fds = fds;
        usleep(100000);
    }
    char *o = peer_slurp(out_fd);
    printf("%s: %d probes served; at most %d descriptors (%d serving, cap %d)\n", mode, probes,
           max_fds, serving, CAP);
    if (!WIFEXITED(st))
        FAIL("slowhttptest ended abnormally:\n%s", o);
    free(o);
    EXPECT_TRUE(probes >= 2);
    /* The cap, plus the probe's own socket and one connection the server
     * may have accepted to refuse it. */
    if (max_fds > serving + CAP + 2)
        FAIL("%d descriptors open, over the cap (%d + %d + 2)", max_fds, serving, CAP);
    EXPECT_EQ(0, tsrv_stop(&s));
    EXPECT_EQ(base, test_fd_count());
}

/* Slow headers (the classic slowloris). */
TEST_T(slow_headers, 200)
{
    attack("-H", "");
}

/* Slow message bodies (R-U-Dead-Yet): the minimum body rate ends them. */
TEST_T(slow_bodies, 200)
{
    attack("-B", "");
}

int main(int argc, char **argv)
{
    if (!peer_have("slowhttptest")) {
        printf("skipped: slowhttptest is not installed\n");
        return 77;
    }
    return test_main(argc, argv);
}
