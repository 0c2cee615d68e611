/* Helpers shared by the stream and transport tests (tests/net/test_stream*.c,
 * test_transport*.c, test_interop_stream*.c). */
#ifndef CIO_TEST_STREAM_UTIL_H
#define CIO_TEST_STREAM_UTIL_H

#include <dirent.h>
#include <sys/socket.h>

#include <cio.h>
#include <cio/net.h>

#include "test.h"

/* Open descriptors of this process (/proc/self/fd, without the one the
 * count itself opens). */
static inline int st_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        FAIL("opendir /proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* A connected pair of streams over a Unix socketpair. From a task. */
static inline void st_pair(cio_stream **a, cio_stream **b, const cio_stream_options *o)
{
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    EXPECT_OK(cio_stream_new(fds[0], o, a));
    EXPECT_OK(cio_stream_new(fds[1], o, b));
}

/* A TCP listener on 127.0.0.1, an ephemeral port; *addr receives it. */
static inline int st_listen_tcp(cio_addr *addr)
{
    cio_addr any;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &any));
    int lfd = -1;
    EXPECT_OK(cio_socket_listen(&any, NULL, &lfd));
    EXPECT_OK(cio_socket_local(lfd, addr));
    return lfd;
}

/* A connected pair of TCP loopback streams (client a, server b). From a
 * task. */
static inline void st_tcp_pair(cio_stream **a, cio_stream **b, const cio_stream_options *o)
{
    cio_addr addr;
    int lfd = st_listen_tcp(&addr);
    EXPECT_OK(cio_stream_connect(&addr, NULL, o, a));
    int fd = -1;
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    EXPECT_OK(cio_stream_new(fd, o, b));
    cio_fd_close(lfd); /* accept registered it with the loop */
}

/* Resident set size in bytes (/proc/self/statm). */
static inline size_t st_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        FAIL("open /proc/self/statm");
    unsigned long size = 0, res = 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        FAIL("read /proc/self/statm");
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static int st_nothing(void *arg, void **res)
{
    (void)arg;
    (void)res;
    return 0;
}

/* Runs fn as the main task of a fresh cio_run and expects it to return 0,
 * with as many descriptors open afterwards as before (a first, empty
 * cio_run opens what the process keeps for good). */
static inline void st_run(cio_task_fn fn, void *arg)
{
    EXPECT_OK(cio_run(st_nothing, NULL, NULL));
    int before = st_fd_count();
    EXPECT_OK(cio_run(fn, arg, NULL));
    EXPECT_EQ(before, st_fd_count());
}

#endif
