/* Helpers for the server tests (tests/net/test_server*.c): descriptor
 * counts, a strict report handler, echo handlers in both styles, a
 * bounded wait for a condition, and the server's internal counters.
 *
 * Waiting is ordered by causality: wait_until polls a condition another
 * task or callback makes true, sleeping 1 ms between looks; the time only
 * bounds a hang (every case runs under a 60 s deadline scope too). */
#ifndef CIO_TEST_NET_SERVER_UTIL_H
#define CIO_TEST_NET_SERVER_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <sys/resource.h>

#include <cio/net.h>

#include "test.h"

/* server.c's counters: accept(2) calls, accepted, shed, pauses. */
void cio__server_stats(const cio_server *srv, uint64_t out[4]);
enum { ST_CALLS, ST_ACCEPTED, ST_SHED, ST_PAUSES };

/* Open descriptors of this process (/proc/self/fd, less the directory's
 * own descriptor). */
static inline int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        FAIL("opendir /proc/self/fd: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* The task layer keeps one descriptor for the process once tasks ran (a
 * pidfd for process_madvise, src/task/stack.c): run tasks once before
 * counting. */
static inline int warm_task(void *arg, void **res)
{
    (void)arg;
    (void)res;
    return cio_yield();
}
static inline int warm_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_task *t;
    int rc = cio_spawn(warm_task, NULL, &t);
    if (rc == 0) {
        rc = cio_await(t, NULL);
        cio_future_unref(t);
    }
    return rc;
}
static inline int fd_count_warm(void)
{
    EXPECT_OK(cio_run(warm_main, NULL, NULL));
    return fd_count();
}

/* Lists /proc/self/fd on stderr (when a count is off). */
static inline void fd_list(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
        }
    }
    if (d)
        closedir(d);
}
#define EXPECT_FDS(before)                                                                        \
    do {                                                                                          \
        int now_ = fd_count();                                                                    \
        if (now_ != (before)) {                                                                   \
            fd_list();                                                                            \
            FAIL("descriptors: %d before, %d after", (before), now_);                            \
        }                                                                                         \
    } while (0)

/* The case's main task: no report may be made on its loop. */
static inline void strict_reports(void)
{
    cio_loop_set_report_handler(cio_current_loop(), test_fail_on_report, NULL);
}

/* Polls cond every millisecond (of the loop's time) for at most 30 s. */
#define WAIT_UNTIL(cond)                                                                          \
    do {                                                                                          \
        int i_;                                                                                   \
        for (i_ = 0; i_ < 30000 && !(cond); i_++)                                                 \
            EXPECT_OK(cio_sleep(0.001));                                                          \
        if (!(cond))                                                                              \
            FAIL("timed out waiting for %s", #cond);                                             \
    } while (0)

static inline cio_addr loopback4(void)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    return a;
}

/* Stream style: echoes until the peer ends, leaves the stream open (the
 * server closes it). */
static inline int echo_handler(cio_stream *s, void *arg)
{
    (void)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return (int)n;
        int rc = cio_stream_write(s, buf, (size_t)n);
        if (rc < 0)
            return rc;
    }
}

/* Protocol style: echoes; counts the connections lost and their errors. */
struct echo_proto_stats {
    int made, lost, lost_clean;
};
static inline int echo_made(cio_transport *t, void *arg, void **ctx)
{
    (void)t;
    struct echo_proto_stats *st = arg;
    if (st)
        st->made++;
    (void)ctx;
    return 0;
}
static inline void echo_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)ctx;
    cio_transport_write(t, data, len);
}
static inline void echo_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    struct echo_proto_stats *st = ctx;
    if (st) {
        st->lost++;
        if (error == 0)
            st->lost_clean++;
    }
}
static const cio_protocol echo_protocol = {
    .connection_made = echo_made,
    .data_received = echo_data,
    .connection_lost = echo_lost,
};

/* One line's round trip on a client stream. */
static inline int echo_round(cio_stream *s, const char *line)
{
    char buf[256];
    size_t len = strlen(line);
    int rc = cio_stream_write(s, line, len);
    if (rc < 0)
        return rc;
    ssize_t n = cio_stream_read_line(s, buf, sizeof buf);
    if (n < 0)
        return (int)n;
    if ((size_t)n != len || memcmp(buf, line, len) != 0)
        return -EPROTO;
    return 0;
}

/* Raises the soft descriptor limit to the hard one; returns the new soft
 * limit. */
static inline rlim_t raise_nofile(void)
{
    struct rlimit r;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &r));
    r.rlim_cur = r.rlim_max;
    EXPECT_OK(setrlimit(RLIMIT_NOFILE, &r));
    return r.rlim_cur;
}

#endif
