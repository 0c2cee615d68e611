/* A server out of descriptors (accept failing with EMFILE): with the soft
 * RLIMIT_NOFILE lowered and the table filled, clients that connect are
 * shed (they see the end at once instead of hanging in the backlog), the
 * server does not spin while the shortage lasts (counted in accept(2)
 * calls and pauses, which depend only on the loop's own clock, and in
 * process CPU time, with a generous bound), and once descriptors are free
 * again it serves as before. Both styles. */
#include <math.h>
#include <time.h>

#include "net/server_util.h"

#define CLIENTS 8
#define IDLE 0.3 /* s of the loop's time the shortage is watched */

static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        FAIL("opendir: %s", strerror(errno));
    int hi = -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) > hi)
            hi = atoi(e->d_name);
    closedir(d);
    return hi;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    EXPECT_OK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts));
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int emfile_main(void *arg, void **res)
{
    (void)res;
    bool protocol = arg != NULL;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_loop *loop = cio_current_loop();
    cio_addr a = loopback4(), at;
    cio_server *srv;
    if (protocol)
        EXPECT_OK(cio_server_new_protocol(&a, NULL, &echo_protocol, NULL, &srv));
    else
        EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.name = "emfile"), echo_handler, NULL,
                                 &srv));
    EXPECT_OK(cio_server_addr(srv, &at));

    /* The clients' sockets exist before the shortage; connecting needs no
     * new descriptor. */
    int cl[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        EXPECT_TRUE(cl[i] >= 0);
    }
    /* Lower the limit to a few above what is open, and fill the table. */
    struct rlimit old, low;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &old));
    low = old;
    low.rlim_cur = (rlim_t)highest_fd() + 1 + 16;
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &low));
    int *fill = malloc(low.rlim_cur * sizeof *fill), nfill = 0;
    EXPECT_TRUE(fill != NULL);
    for (; nfill < (int)low.rlim_cur; nfill++) {
        fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fill[nfill] < 0)
            break;
    }
    EXPECT_TRUE(nfill < (int)low.rlim_cur);
    EXPECT_EQ(EMFILE, errno);

    /* Each client is shed: it sees the end of the connection. */
    for (int i = 0; i < CLIENTS; i++) {
        int rc = connect(cl[i], &at.u.sa, at.len);
        EXPECT_TRUE(rc == 0 || errno == EINPROGRESS);
    }
    for (int i = 0; i < CLIENTS; i++) {
        int ready = 0;
        EXPECT_OK(cio_fd_wait(cl[i], CIO_READABLE, &ready));
        char b;
        ssize_t n = recv(cl[i], &b, 1, MSG_DONTWAIT);
        if (!(n == 0 || (n < 0 && errno == ECONNRESET)))
            FAIL("client %d: recv returned %zd (%s), expected the end", i, n,
                 n < 0 ? strerror(errno) : "data");
    }
    uint64_t st0[4], st1[4];
    cio__server_stats(srv, st0);
    EXPECT_TRUE(st0[ST_SHED] >= CLIENTS);
    EXPECT_TRUE(st0[ST_PAUSES] >= 1);
    EXPECT_EQ(0, st0[ST_ACCEPTED]);
    EXPECT_EQ(0, cio_server_connections(srv));

    /* The shortage lasts and nothing else happens: the server pauses
     * between tries (10 ms doubling to 1 s), so over IDLE s of the loop's
     * time it makes few tries, each of two accept(2) calls (the one that
     * fails, the shedding one that finds nothing), and uses little CPU. */
    double t0 = cio_loop_time(loop), cpu0 = cpu_seconds();
    EXPECT_OK(cio_sleep(IDLE));
    double t1 = cio_loop_time(loop), cpu1 = cpu_seconds();
    cio__server_stats(srv, st1);
    double elapsed = t1 - t0;
    uint64_t pauses = st1[ST_PAUSES] - st0[ST_PAUSES];
    uint64_t calls = st1[ST_CALLS] - st0[ST_CALLS];
    double max_pauses = log2(elapsed / 0.010 + 1) + elapsed / 1.0 + 3;
    fprintf(stderr, "shortage: %.3f s of loop time, %llu pauses, %llu accept calls, %.4f s CPU\n",
            elapsed, (unsigned long long)pauses, (unsigned long long)calls, cpu1 - cpu0);
    EXPECT_TRUE(elapsed >= IDLE);
    EXPECT_TRUE((double)pauses <= max_pauses);
    EXPECT_TRUE(calls <= 3 * pauses + 3);
    EXPECT_TRUE(cpu1 - cpu0 < 0.5 * elapsed);
    EXPECT_EQ(0, st1[ST_ACCEPTED]);

    /* Descriptors free again: it serves. */
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    free(fill);
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &old));
    for (int i = 0; i < CLIENTS; i++)
        EXPECT_OK(cio_fd_close(cl[i]));
    for (int i = 0; i < 3; i++) {
        cio_stream *s;
        EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &s));
        EXPECT_OK(echo_round(s, "served again\n"));
        EXPECT_OK(cio_stream_close(s));
    }
    cio__server_stats(srv, st1);
    EXPECT_EQ(3, st1[ST_ACCEPTED]);
    EXPECT_OK(cio_server_close(srv, 5));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(emfile_sheds_backs_off_and_recovers)
{
    int before = fd_count_warm();
    EXPECT_OK(cio_run(emfile_main, NULL, NULL));
    EXPECT_FDS(before);
}

TEST(emfile_protocol_server)
{
    int before = fd_count_warm();
    EXPECT_OK(cio_run(emfile_main, (void *)1, NULL));
    EXPECT_FDS(before);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
