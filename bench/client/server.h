/* What every server of the server workloads shares (cio's and the C
 * peers'): the command line, the descriptor limit, the "ready" line.
 *
 * usage: SERVER PORT [echo|accept]
 *   echo    (default) echoes every byte back on the same connection;
 *   accept  writes one byte ("x") to each new connection and closes it.
 * Every server listens on 127.0.0.1:PORT with SO_REUSEADDR and a backlog of
 * BENCH_BACKLOG, sets TCP_NODELAY on the connections it accepts, reads in
 * pieces of up to BENCH_READ_SIZE bytes, starts pausing reading when more
 * than BENCH_HIGH_WATER bytes wait to be written and resumes once they fall
 * to BENCH_LOW_WATER (cio's and asyncio's defaults), and prints "ready" on
 * stdout once it listens. bench/run starts it on the loop CPU and ends it
 * with SIGTERM. */
#ifndef BENCH_SERVER_H
#define BENCH_SERVER_H

#include "../common.h"

#include <stdbool.h>

#define BENCH_BACKLOG 511
#define BENCH_READ_SIZE 65536
#define BENCH_HIGH_WATER 65536
#define BENCH_LOW_WATER 16384

typedef struct {
    int port;
    bool accept_mode; /* "accept": one byte, then close */
} bench_server_args;

static inline bench_server_args bench_server_parse(int argc, char **argv)
{
    bench_server_args a = {0, false};
    char *end = NULL;
    long port = argc > 1 ? strtol(argv[1], &end, 10) : -1;
    if (argc < 2 || argc > 3 || *end != '\0' || port < 1 || port > 65535 ||
        (argc == 3 && strcmp(argv[2], "echo") != 0 && strcmp(argv[2], "accept") != 0)) {
        fprintf(stderr, "usage: %s PORT [echo|accept]\n", argv[0]);
        exit(2);
    }
    a.port = (int)port;
    a.accept_mode = argc == 3 && strcmp(argv[2], "accept") == 0;
    /* idle_conns holds 10,000 connections: the soft descriptor limit up to
     * the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return a;
}

static inline void bench_server_ready(void)
{
    printf("ready\n");
    fflush(stdout);
}

#endif
