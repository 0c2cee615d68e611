/* What every TLS server of the TLS workloads shares (cio's and libevent's;
 * nginx gets the same from the configuration bench/run writes): the
 * command line and the "ready" line.
 *
 * usage: SERVER PORT CERT KEY
 *   Listens on 127.0.0.1:PORT (SO_REUSEADDR, backlog BENCH_BACKLOG), TLS 1.3
 *   only, the PEM certificate CERT and key KEY (bench/run makes an ECDSA
 *   P-256 pair with the openssl command line in a temporary directory), the
 *   X25519 group, no session tickets and no session cache (every handshake
 *   is a full one). The cipher suite is the client's choice (tlsload offers
 *   TLS_AES_128_GCM_SHA256 only).
 *
 * Every connection is an echo: the server reads at most BENCH_READ_SIZE
 * bytes at a time and writes them back, with the flow control of
 * bench/client/server.h (reading paused above BENCH_HIGH_WATER bytes
 * waiting to be written, resumed at BENCH_LOW_WATER). At the client's end
 * of stream (its close_notify) the server closes the connection. This is
 * the server of tls_stream, and of tls_handshake too: there the client
 * sends its close_notify right after the handshake, so the server's read
 * ends at once and it closes (as nginx does with a connection that sends no
 * request). Prints "ready" on stdout once it listens. */
#ifndef BENCH_TLS_SERVER_H
#define BENCH_TLS_SERVER_H

#include "server.h"

typedef struct {
    int port;
    const char *cert, *key;
} bench_tls_server_args;

static inline bench_tls_server_args bench_tls_server_parse(int argc, char **argv)
{
    bench_tls_server_args a = {0, NULL, NULL};
    char *end = NULL;
    long port = argc > 1 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 4 || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "usage: %s PORT CERT KEY\n", argv[0]);
        exit(2);
    }
    a.port = (int)port;
    a.cert = argv[2];
    a.key = argv[3];
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return a;
}

#endif
