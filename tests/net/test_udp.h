/* Helpers shared by the UDP and fd-passing tests (tests/net/test_udp*.c,
 * test_fdpass.c): running a task under a deadline with the descriptor count
 * checked (test_fd_baseline of tests/test.h), making loopback sockets. */
#ifndef CIO_TEST_UDP_UTIL_H
#define CIO_TEST_UDP_UTIL_H

#include <stdint.h>

#include <cio/net.h>

#include "test.h"

/* Runs fn as the main task of a fresh loop, inside a 60 s deadline (a hang
 * fails with -ETIMEDOUT instead of waiting for the harness), and expects
 * it to return 0 and to leave as many descriptors open as it found. */
static cio_task_fn udp_main_fn;
static void *udp_main_arg;
static int udp_main_wrap(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    int rc = udp_main_fn(udp_main_arg, NULL);
    int end = cio_scope_end(&sc);
    return rc ? rc : end;
}
static inline void udp_run(cio_task_fn fn, void *arg)
{
    int before = test_fd_baseline();
    udp_main_fn = fn;
    udp_main_arg = arg;
    EXPECT_OK(cio_run(udp_main_wrap, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

static inline cio_addr udp_ip(const char *host, uint16_t port)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip(host, port, &a));
    return a;
}

/* A socket bound to host:0 (an ephemeral port). */
static inline cio_udp *udp_bound(const char *host, const cio_udp_options *o)
{
    cio_addr a = udp_ip(host, 0);
    cio_udp *u = NULL;
    EXPECT_OK(cio_udp_new(&a, o, &u));
    return u;
}

static inline cio_addr udp_local(cio_udp *u)
{
    cio_addr a;
    EXPECT_OK(cio_udp_local(u, &a));
    return a;
}

static inline cio_task *udp_spawn(cio_task_fn fn, void *arg)
{
    cio_task *t = NULL;
    EXPECT_OK(cio_spawn(fn, arg, &t));
    return t;
}

static inline int udp_join(cio_task *t)
{
    int rc = cio_await(t, NULL);
    cio_future_unref(t);
    return rc;
}

#endif
