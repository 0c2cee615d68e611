/* What the load clients (netload, tlsload) share: their key=value options
 * (parsed from argv[first..], each looked up by name, and any the mode did
 * not use refused), the server's address, failing loudly, and the
 * non-blocking connect over raw epoll. KV_PROG names the program in
 * messages; define it first. */
#ifndef BENCH_CLIENT_LOADCLIENT_H
#define BENCH_CLIENT_LOADCLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "../common.h"

#ifndef KV_PROG
#error "define KV_PROG before including loadclient.h"
#endif

#define MAX_KEYS 16

static struct {
    const char *key[MAX_KEYS];
    const char *val[MAX_KEYS];
    bool used[MAX_KEYS];
    int n;
} opts;

/* Reads argv[first..argc) as key=value; returns false (after saying why)
 * on anything else. The values point into argv. */
static inline bool kv_parse(int first, int argc, char **argv)
{
    for (int i = first; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || opts.n == MAX_KEYS) {
            fprintf(stderr, KV_PROG ": expected key=value, got %s\n", argv[i]);
            return false;
        }
        *eq = '\0';
        opts.key[opts.n] = argv[i];
        opts.val[opts.n++] = eq + 1;
    }
    return true;
}

static inline const char *opt_str(const char *key, const char *def)
{
    for (int i = 0; i < opts.n; i++)
        if (strcmp(opts.key[i], key) == 0) {
            opts.used[i] = true;
            return opts.val[i];
        }
    return def;
}

static inline double opt_num(const char *key, double def)
{
    const char *s = opt_str(key, NULL);
    if (!s)
        return def;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || v < 0) {
        fprintf(stderr, KV_PROG ": bad value for %s: %s\n", key, s);
        exit(2);
    }
    return v;
}

static inline void check_opts_used(void)
{
    for (int i = 0; i < opts.n; i++)
        if (!opts.used[i]) {
            fprintf(stderr, KV_PROG ": unknown option %s for this mode\n", opts.key[i]);
            exit(2);
        }
}

/* The server (127.0.0.1 and the port given). */
static struct sockaddr_in server_addr;

static inline void die(const char *what)
{
    fprintf(stderr, KV_PROG ": %s: %s\n", what, strerror(errno));
    exit(1);
}

static inline void fail(const char *msg)
{
    fprintf(stderr, KV_PROG ": %s\n", msg);
    exit(1);
}

/* server_addr from the port argument and the host= option (an IPv4
 * address, default 127.0.0.1); false (after saying why) if either is bad. */
static inline bool set_server(const char *port_arg)
{
    char *end;
    long port = strtol(port_arg, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, KV_PROG ": bad port %s\n", port_arg);
        return false;
    }
    const char *host = opt_str("host", "127.0.0.1");
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &server_addr.sin_addr) != 1) {
        fprintf(stderr, KV_PROG ": bad IPv4 host %s\n", host);
        return false;
    }
    return true;
}

/* A non-blocking connect to server_addr, TCP_NODELAY set. */
static inline int start_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        die("setsockopt(TCP_NODELAY)");
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) != 0 &&
        errno != EINPROGRESS)
        die("connect");
    return fd;
}

/* After EPOLLOUT on a connecting socket: fails loudly if it did not connect. */
static inline void check_connected(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        die("getsockopt(SO_ERROR)");
    if (err != 0) {
        errno = err;
        die("connect");
    }
}

static inline void ep_ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(ep, op, fd, &ev) != 0)
        die("epoll_ctl");
}

static inline double elapsed_s(uint64_t t0) { return (bench_now_ns() - t0) / 1e9; }

#endif
