/* tlsload: the one load client of the TLS workloads (tls_handshake,
 * tls_stream). Plain C over raw epoll and OpenSSL (non-blocking), no cio, so
 * that every TLS server (cio's, nginx, libevent's) is driven by the very
 * same code.
 *
 * usage: tlsload MODE PORT [key=value ...]
 *
 *   handshake inflight=50 secs=5 [count=K]
 *             keeps `inflight` connections in flight, each: connect, a full
 *             TLS handshake (never resumed: the client keeps no session and
 *             offers none), then it sends its close_notify and reads until
 *             the server's end (the server's close_notify or its close),
 *             then closes. The server closes first (it answers the
 *             close_notify), so TIME_WAIT stays on its side. Prints
 *             handshakes_per_s, handshakes (the op count) and
 *             tickets_per_handshake (session tickets the server sent: 0
 *             when both sides have tickets off, the fairness check).
 *   stream    size=65536 secs=5 inflight=4194304
 *             one TLS connection, SSL_write of `size`-byte chunks as fast as
 *             the connection takes them (partial writes on), at most
 *             `inflight` bytes sent and not yet echoed; reads the echo into a
 *             `size`-byte buffer and checks it. Prints MB_per_s of echoed
 *             bytes (10^6 B/s), MB (echoed bytes / 10^6: the op count, so the
 *             harness's server_cpu_ns_per_op is per MB) and chunks.
 *
 * Common keys: host=127.0.0.1, impl=NAME (the `impl` field of the JSON
 * lines), ciphersuites=TLS_AES_128_GCM_SHA256 (the TLS 1.3 suites offered:
 * the server has to take this one), groups=X25519 (key exchange),
 * sni=localhost (the server name sent). TLS 1.3 only; the server's
 * certificate is not verified (the signature of its handshake is: that is
 * the handshake). Every socket gets TCP_NODELAY. Any failure (a refused
 * connection, a failed handshake, a wrong echo) exits 1 with a message. */
#include "../common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>

#define KV_PROG "tlsload"
#include "loadclient.h"

static const char *impl_name = "tlsload";
static const char *sni = "localhost";
static SSL_CTX *ctx;
static long tickets; /* session tickets received (new-session callback) */

static void ssl_fail(const char *what, SSL *ssl, int ret)
{
    int err = ssl ? SSL_get_error(ssl, ret) : 0;
    fprintf(stderr, "tlsload: %s: SSL error %d (errno %s)\n", what, err, strerror(errno));
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* A ticket arrived: counted, not kept (returning 0 lets OpenSSL free it), so
 * no later connection can offer it. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    tickets++;
    return 0;
}

static void make_ctx(void)
{
    const char *suites = opt_str("ciphersuites", "TLS_AES_128_GCM_SHA256");
    const char *groups = opt_str("groups", "X25519");
    sni = opt_str("sni", sni);
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        ssl_fail("SSL_CTX_new", NULL, 0);
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(ctx, suites) || !SSL_CTX_set1_groups_list(ctx, groups))
        ssl_fail("TLS settings", NULL, 0);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* No resumption: no session kept, none offered; tickets only counted. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    /* A server that closes without its close_notify ends the stream as
     * well (the end of a handshake-only connection). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

static SSL *new_ssl(int fd)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !SSL_set_fd(ssl, fd) || (sni && *sni && !SSL_set_tlsext_host_name(ssl, sni)))
        ssl_fail("SSL_new", NULL, 0);
    SSL_set_connect_state(ssl);
    return ssl;
}

/* ---- handshake ------------------------------------------------------------ */

enum { HS_CONNECTING, HS_HANDSHAKE, HS_CLOSING };

struct hs_conn {
    int fd;
    int state;
    uint32_t events; /* what epoll watches for it now */
    SSL *ssl;
};

/* Watches c for what OpenSSL wants (ret: the failed call's return). */
static void hs_want(int ep, struct hs_conn *c, long i, int ret, const char *what)
{
    int err = SSL_get_error(c->ssl, ret);
    uint32_t ev;
    if (err == SSL_ERROR_WANT_READ)
        ev = EPOLLIN;
    else if (err == SSL_ERROR_WANT_WRITE)
        ev = EPOLLOUT;
    else
        ssl_fail(what, c->ssl, ret);
    if (ev != c->events) {
        ep_ctl(ep, EPOLL_CTL_MOD, c->fd, ev, (uint64_t)i);
        c->events = ev;
    }
}

/* Advances connection i as far as it goes now; returns true when it ended
 * (the server's end of stream read, the connection closed). */
static bool hs_step(int ep, struct hs_conn *c, long i)
{
    if (c->state == HS_CONNECTING) {
        check_connected(c->fd);
        c->ssl = new_ssl(c->fd);
        c->state = HS_HANDSHAKE;
    }
    if (c->state == HS_HANDSHAKE) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            hs_want(ep, c, i, r, "handshake");
            return false;
        }
        if (SSL_version(c->ssl) != TLS1_3_VERSION)
            fail("handshake: not TLS 1.3");
        if (SSL_session_reused(c->ssl))
            fail("handshake: a session was resumed");
        static bool shown;
        if (!shown) { /* what was negotiated, once */
            shown = true;
            int group = SSL_get_negotiated_group(c->ssl);
            X509 *cert = SSL_get0_peer_certificate(c->ssl);
            EVP_PKEY *pk = cert ? X509_get0_pubkey(cert) : NULL;
            fprintf(stderr, "tlsload: handshake: %s, %s, group %s, %s certificate\n",
                    SSL_get_version(c->ssl), SSL_get_cipher(c->ssl),
                    OBJ_nid2sn(group), pk ? EVP_PKEY_get0_type_name(pk) : "no");
        }
        /* Our close_notify: the server answers it and closes. */
        r = SSL_shutdown(c->ssl);
        if (r < 0)
            ssl_fail("SSL_shutdown", c->ssl, r);
        c->state = HS_CLOSING;
    }
    char buf[256];
    int r = SSL_read(c->ssl, buf, sizeof buf);
    if (r > 0)
        fail("handshake: the server sent application data");
    int err = SSL_get_error(c->ssl, r);
    if (err != SSL_ERROR_ZERO_RETURN) {
        hs_want(ep, c, i, r, "reading the server's end");
        return false;
    }
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd); /* also leaves the epoll set */
    return true;
}

static int mode_handshake(void)
{
    long inflight = (long)opt_num("inflight", 50);
    double secs = opt_num("secs", 5);
    long count = (long)opt_num("count", 0);
    make_ctx();
    check_opts_used();
    if (inflight < 1)
        fail("handshake: inflight must be at least 1");
    struct hs_conn *c = calloc((size_t)inflight, sizeof *c);
    if (!c)
        fail("out of memory");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");

    long started = 0, done = 0, open_now = 0;
    bool starting = true;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < inflight; i++)
        c[i].fd = -1;
    struct epoll_event evs[256];
    for (;;) {
        for (long i = 0; starting && i < inflight; i++) {
            if (c[i].fd >= 0)
                continue;
            c[i].fd = start_connect();
            c[i].state = HS_CONNECTING;
            c[i].events = EPOLLOUT;
            ep_ctl(ep, EPOLL_CTL_ADD, c[i].fd, EPOLLOUT, (uint64_t)i);
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
            fail("handshake: no event for 10 s");
        for (int k = 0; k < n; k++) {
            long i = (long)evs[k].data.u64;
            if (c[i].fd < 0)
                continue;
            if (hs_step(ep, &c[i], i)) {
                c[i].fd = -1;
                open_now--;
                done++;
            }
        }
        if (starting && !count && elapsed_s(t0) >= secs)
            starting = false;
    }
    double dt = elapsed_s(t0);
    close(ep);
    free(c);
    SSL_CTX_free(ctx);
    fprintf(stderr, "tlsload: %ld handshakes in %.2f s, %ld tickets received\n", done, dt,
            tickets);
    bench_emit("tls_handshake", impl_name, "handshakes_per_s", "1/s", done / dt, "higher");
    bench_emit("tls_handshake", impl_name, "handshakes", "", (double)done, "higher");
    bench_emit("tls_handshake", impl_name, "tickets_per_handshake", "",
               done ? (double)tickets / (double)done : 0, "lower");
    return 0;
}

/* ---- stream --------------------------------------------------------------- */

static int mode_stream(void)
{
    size_t size = (size_t)opt_num("size", 65536);
    double secs = opt_num("secs", 5);
    uint64_t cap = (uint64_t)opt_num("inflight", 4 << 20);
    make_ctx();
    check_opts_used();
    if (size < 1 || cap < size)
        fail("stream: size must be at least 1 and inflight at least size");

    /* The echo is checked against the pattern: byte k of the stream is
     * pattern(k mod size). */
    unsigned char *chunk = malloc(size), *buf = malloc(size);
    if (!chunk || !buf)
        fail("out of memory");
    for (size_t i = 0; i < size; i++)
        chunk[i] = (unsigned char)(i * 7 + 3);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    int fd = start_connect();
    uint32_t events = EPOLLOUT;
    ep_ctl(ep, EPOLL_CTL_ADD, fd, events, 0);
    struct epoll_event ev;
    int n = epoll_wait(ep, &ev, 1, 10000);
    if (n != 1)
        fail("stream: could not connect within 10 s");
    check_connected(fd);
    SSL *ssl = new_ssl(fd);
    for (;;) { /* the handshake (not timed) */
        int r = SSL_do_handshake(ssl);
        if (r == 1)
            break;
        int err = SSL_get_error(ssl, r);
        uint32_t want = err == SSL_ERROR_WANT_READ ? EPOLLIN
                        : err == SSL_ERROR_WANT_WRITE ? EPOLLOUT
                                                      : 0;
        if (!want)
            ssl_fail("stream: handshake", ssl, r);
        if (want != events)
            ep_ctl(ep, EPOLL_CTL_MOD, fd, events = want, 0);
        if (epoll_wait(ep, &ev, 1, 10000) != 1)
            fail("stream: handshake: no progress for 10 s");
    }
    fprintf(stderr, "tlsload: stream: %s, %s\n", SSL_get_version(ssl), SSL_get_cipher(ssl));

    uint64_t sent = 0, got = 0, t0 = bench_now_ns();
    size_t off = 0; /* where in the chunk the next write starts */
    bool sending = true;
    for (;;) {
        bool want_out = false;
        for (;;) { /* read until OpenSSL needs the socket again */
            int r = SSL_read(ssl, buf, (int)size);
            if (r > 0) {
                size_t at = (size_t)(got % size);
                for (size_t k = 0; k < (size_t)r; k++, at = at + 1 == size ? 0 : at + 1)
                    if (buf[k] != chunk[at])
                        fail("stream: the echo differs from what was sent");
                got += (uint64_t)r;
                continue;
            }
            int err = SSL_get_error(ssl, r);
            if (err == SSL_ERROR_WANT_READ)
                break;
            if (err == SSL_ERROR_WANT_WRITE) {
                want_out = true;
                break;
            }
            ssl_fail(err == SSL_ERROR_ZERO_RETURN ? "stream: the server closed the connection"
                                                  : "stream: SSL_read",
                     ssl, r);
        }
        if (got > sent)
            fail("stream: more bytes came back than were sent");
        while (sending && sent - got < cap) {
            size_t len = size - off;
            if (sent - got + len > cap)
                len = (size_t)(cap - (sent - got));
            int w = SSL_write(ssl, chunk + off, (int)len);
            if (w > 0) {
                sent += (uint64_t)w;
                off = (off + (size_t)w) % size;
                continue;
            }
            int err = SSL_get_error(ssl, w);
            if (err == SSL_ERROR_WANT_WRITE)
                want_out = true;
            else if (err != SSL_ERROR_WANT_READ)
                ssl_fail("stream: SSL_write", ssl, w);
            break;
        }
        if (sending && elapsed_s(t0) >= secs)
            sending = false;
        if (!sending && got == sent)
            break;
        uint32_t want = EPOLLIN | (want_out ? EPOLLOUT : 0);
        if (want != events)
            ep_ctl(ep, EPOLL_CTL_MOD, fd, events = want, 0);
        n = epoll_wait(ep, &ev, 1, 10000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0)
            fail("stream: no progress for 10 s");
    }
    double dt = elapsed_s(t0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    close(ep);
    free(chunk);
    free(buf);
    bench_emit("tls_stream", impl_name, "MB_per_s", "MB/s", got / dt / 1e6, "higher");
    bench_emit("tls_stream", impl_name, "MB", "MB", (double)got / 1e6, "higher");
    bench_emit("tls_stream", impl_name, "chunks", "", (double)got / (double)size, "higher");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tlsload {handshake|stream} PORT [key=value ...]\n");
        return 2;
    }
    if (!kv_parse(3, argc, argv))
        return 2;
    if (!set_server(argv[2]))
        return 2;
    impl_name = opt_str("impl", impl_name);
    signal(SIGPIPE, SIG_IGN);
    const char *mode = argv[1];
    if (strcmp(mode, "handshake") == 0)
        return mode_handshake();
    if (strcmp(mode, "stream") == 0)
        return mode_stream();
    fprintf(stderr, "tlsload: unknown mode %s\n", mode);
    return 2;
}
