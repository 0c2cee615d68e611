/* TLS, cio to cio over loopback (src/net/tls.c): handshakes in both styles,
 * echo with flow control, line reads, ALPN, SNI, client certificates,
 * verification failures and their texts, resumption, STARTTLS, handshake
 * timeouts, half-close, abort, sendfile, argument checks. The certificates
 * are made at start by tls-certs.sh (openssl command line) in a temporary
 * directory. */
#include <fcntl.h>
#include <pthread.h>
#include <math.h>
#include <sys/stat.h>

#include "net/test_tls_util.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_EQ(before_, fd_count());                                                           \
    } while (0)

/* ---- A TLS echo server (stream style) ------------------------------------- */

struct echo_srv {
    cio_server *srv;
    cio_addr addr;
    int handled;
    cio_tls_info info; /* the last connection's */
    char sni[64];
    char alpn[32];
};

static int tls_echo_handler(cio_stream *s, void *arg)
{
    struct echo_srv *e = arg;
    e->handled++;
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    e->info = inf;
    snprintf(e->sni, sizeof e->sni, "%s", inf.server_name ? inf.server_name : "");
    snprintf(e->alpn, sizeof e->alpn, "%s", inf.alpn ? inf.alpn : "");
    char buf[65536];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return n < 0 ? (int)n : 0;
        int rc = cio_stream_write(s, buf, (size_t)n);
        if (rc)
            return rc;
    }
}

static void echo_start(struct echo_srv *e, cio_tls_config *cfg)
{
    cio_addr a = tls_loopback();
    EXPECT_OK(cio_server_new(&a,
                             &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = cfg)),
                             tls_echo_handler, e, &e->srv));
    EXPECT_OK(cio_server_addr(e->srv, &e->addr));
}

static int connect_tls(const cio_addr *a, cio_tls_config *cfg, const char *name, cio_stream **s)
{
    return cio_stream_connect(a, NULL, &CIO_STREAM_OPTIONS(.tls = cfg, .server_name = name), s);
}

/* ---- Handshake and echo, stream style ---------------------------------- */

static int basic_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    cio_tls_config_free(scfg); /* the server keeps its own reference */
    cio_stream *s;
    EXPECT_OK(connect_tls(&e.addr, ccfg, "localhost", &s));
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    EXPECT_EQ(CIO_TLS_1_3, inf.version);
    EXPECT_TRUE(inf.cipher && strlen(inf.cipher) > 0);
    EXPECT_TRUE(inf.peer_verified);
    EXPECT_FALSE(inf.resumed);
    EXPECT_TRUE(inf.alpn == NULL);
    EXPECT_STR_EQ("localhost", inf.server_name);
    EXPECT_TRUE(cio_stream_ssl(s) != NULL);
    char line[64];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        EXPECT_OK(cio_stream_write(s, line, (size_t)n));
        char back[64];
        EXPECT_EQ(n, cio_stream_read_line(s, back, sizeof back));
        EXPECT_TRUE(memcmp(line, back, (size_t)n) == 0);
    }
    /* read_exactly across records */
    char big[40000], got[40000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    EXPECT_OK(cio_stream_write(s, big, sizeof big));
    EXPECT_EQ(sizeof got, cio_stream_read_exactly(s, got, sizeof got));
    EXPECT_TRUE(memcmp(big, got, sizeof big) == 0);
    EXPECT_STR_EQ("localhost", e.sni);
    EXPECT_OK(cio_stream_shutdown(s));
    EXPECT_EQ(0, cio_stream_read(s, line, sizeof line));
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_server_close(e.srv, 10));
    EXPECT_EQ(1, e.handled);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(stream_handshake_echo)
{
    RUN(basic_main, NULL);
}


/* ---- Transports: a protocol server, a transport client ---------------- */

static int tp_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    int *made = arg;
    (*made)++;
    cio_tls_info inf;
    EXPECT_OK(cio_transport_tls_info(t, &inf));
    EXPECT_TRUE(cio_transport_ssl(t) != NULL);
    return 0;
}

static void tp_echo(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)ctx;
    EXPECT_OK(cio_transport_write(t, d, len));
}

static const cio_protocol tp_echo_proto = {.connection_made = tp_made, .data_received = tp_echo};

struct tcli {
    char buf[4096];
    size_t len;
    int made, lost, lost_err;
    bool eof;
    cio_transport *t;
};

static int tc_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct tcli *k = arg;
    k->t = t;
    k->made++;
    cio_tls_info inf;
    EXPECT_OK(cio_transport_tls_info(t, &inf));
    EXPECT_TRUE(inf.peer_verified);
    return cio_transport_write(t, "hello over tls\n", 15);
}

static void tc_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    struct tcli *k = ctx;
    EXPECT_TRUE(k->len + len <= sizeof k->buf);
    memcpy(k->buf + k->len, d, len);
    k->len += len;
    if (k->len == 15)
        EXPECT_OK(cio_transport_close(t));
}

static void tc_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct tcli *k = ctx;
    k->lost++;
    k->lost_err = err;
}

static const cio_protocol tc_proto = {
    .connection_made = tc_made, .data_received = tc_data, .connection_lost = tc_lost};

static int transport_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    int made = 0;
    cio_addr a = tls_loopback(), sa;
    cio_server *srv;
    EXPECT_OK(cio_server_new_protocol(
        &a, &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = scfg)), &tp_echo_proto,
        &made, &srv));
    EXPECT_OK(cio_server_addr(srv, &sa));
    /* a transport client */
    struct tcli k = {0};
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &sa, NULL,
                                    &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "localhost"),
                                    &tc_proto, &k, &f));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    for (int i = 0; i < 100000 && !k.lost; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(1, k.made);
    EXPECT_EQ(1, k.lost);
    EXPECT_EQ(0, k.lost_err);
    EXPECT_EQ(15, k.len);
    EXPECT_TRUE(memcmp(k.buf, "hello over tls\n", 15) == 0);
    /* a stream client of the protocol server */
    cio_stream *s;
    EXPECT_OK(connect_tls(&sa, ccfg, "localhost", &s));
    char line[64];
    EXPECT_OK(cio_stream_write(s, "abc\n", 4));
    EXPECT_EQ(4, cio_stream_read_line(s, line, sizeof line));
    /* the stream becomes a transport and back (the same TLS object) */
    struct tcli k2 = {0};
    cio_transport *t;
    EXPECT_OK(cio_stream_to_transport(s, &tc_proto, &k2, &t));
    for (int i = 0; i < 100000 && !k2.lost; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(15, k2.len);
    EXPECT_EQ(0, k2.lost_err);
    EXPECT_EQ(2, made);
    EXPECT_OK(cio_server_close(srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(transport_handshake_echo)
{
    RUN(transport_main, NULL);
}

/* A TLS transport handed to a stream (cio_transport_to_stream). */
static int t2s_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    cio_stream **out = arg;
    EXPECT_OK(cio_transport_to_stream(t, out));
    return 0;
}

static void t2s_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)t, (void)d, (void)len, (void)ctx;
    FAIL("data_received after to_stream");
}

static const cio_protocol t2s_proto = {.connection_made = t2s_made, .data_received = t2s_data};

static int t2s_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    cio_stream *s = NULL;
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &e.addr, NULL,
                                    &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "localhost"),
                                    &t2s_proto, &s, &f));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_TRUE(s != NULL);
    char line[64];
    EXPECT_OK(cio_stream_write(s, "via stream\n", 11));
    EXPECT_EQ(11, cio_stream_read_line(s, line, sizeof line));
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_server_close(e.srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(transport_to_stream)
{
    RUN(t2s_main, NULL);
}

/* ---- Bulk echo with flow control, both ways at once ---------------------- */

#define BULK (4u << 20)

static unsigned char bulk_byte(size_t i)
{
    return (unsigned char)((i * 131u) ^ (i >> 11));
}

static int bulk_writer(void *arg, void **res)
{
    (void)res;
    cio_stream *s = arg;
    unsigned char buf[65536];
    for (size_t off = 0; off < BULK; off += sizeof buf) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = bulk_byte(off + i);
        EXPECT_OK(cio_stream_write(s, buf, sizeof buf));
    }
    EXPECT_OK(cio_stream_shutdown(s));
    return 0;
}

static int bulk_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(&e.addr, NULL,
                                 &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "localhost",
                                                     .high_water = 32768),
                                 &s));
    cio_task *w;
    EXPECT_OK(cio_spawn(bulk_writer, s, &w));
    size_t got = 0;
    unsigned char buf[10000];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        EXPECT_TRUE(n >= 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != bulk_byte(got + (size_t)i))
                FAIL("byte %zu differs", got + (size_t)i);
        got += (size_t)n;
        /* the stream's buffers stay bounded */
        EXPECT_TRUE(cio_stream_buffered(s) <= 32768 + 65536);
    }
    EXPECT_EQ(BULK, got);
    EXPECT_OK(cio_await(w, NULL));
    cio_future_unref(w);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_server_close(e.srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(bulk_echo_both_ways)
{
    RUN(bulk_main, NULL);
}

/* ---- ALPN ------------------------------------------------------------------- */

static int alpn_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.alpn = "h2,http/1.1"));
    cio_tls_config *c1 = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1,h2"));
    cio_tls_config *c2 = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_tls_config *c3 = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "spdy/3,foo"));
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    cio_stream *s;
    cio_tls_info inf;
    /* the server's preference wins */
    EXPECT_OK(connect_tls(&e.addr, c1, "localhost", &s));
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    EXPECT_STR_EQ("h2", inf.alpn);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(connect_tls(&e.addr, c2, "localhost", &s));
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    EXPECT_STR_EQ("http/1.1", inf.alpn);
    char b[8];
    EXPECT_OK(cio_stream_write(s, "x", 1));
    EXPECT_EQ(1, cio_stream_read(s, b, sizeof b));
    EXPECT_STR_EQ("http/1.1", e.alpn);
    EXPECT_OK(cio_stream_close(s));
    /* nothing in common */
    int handled = e.handled;
    s = (cio_stream *)1;
    EXPECT_ERR(-ENOPROTOOPT, connect_tls(&e.addr, c3, "localhost", &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_TRUE(strlen(cio_tls_last_error()) > 0);
    EXPECT_OK(cio_server_close(e.srv, 10));
    EXPECT_EQ(handled, e.handled);
    cio_tls_config_free(scfg);
    cio_tls_config_free(c1);
    cio_tls_config_free(c2);
    cio_tls_config_free(c3);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(alpn)
{
    RUN(alpn_main, NULL);
}

/* ---- SNI -------------------------------------------------------------------- */

static int sni_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.alpn = "h2,http/1.1"));
    EXPECT_OK(cio_tls_config_add_cert(scfg, tls_path("sni.pem"), tls_path("sni.key")));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    /* in use now: no more certificates */
    cio_stream *s;
    EXPECT_OK(connect_tls(&e.addr, ccfg, "localhost", &s));
    EXPECT_ERR(-EINVAL, cio_tls_config_add_cert(scfg, tls_path("sni.pem"), tls_path("sni.key")));
    EXPECT_OK(cio_stream_close(s));
    const char *good[] = {"alt.test", "ALT.test", "x.wild.test"};
    for (size_t i = 0; i < 3; i++) {
        EXPECT_OK(connect_tls(&e.addr, ccfg, good[i], &s));
        cio_tls_info inf;
        EXPECT_OK(cio_stream_tls_info(s, &inf));
        EXPECT_TRUE(inf.peer_verified);
        EXPECT_STR_EQ("http/1.1", inf.alpn); /* the second certificate's SSL_CTX chose it */
        char b[8];
        EXPECT_OK(cio_stream_write(s, "x", 1));
        EXPECT_EQ(1, cio_stream_read(s, b, sizeof b));
        EXPECT_STR_EQ(good[i], e.sni);
        EXPECT_OK(cio_stream_close(s));
    }
    /* a wildcard stands for one label only: the default certificate, which
     * does not name it */
    EXPECT_ERR(-EKEYREJECTED, connect_tls(&e.addr, ccfg, "a.b.wild.test", &s));
    EXPECT_ERR(-EKEYREJECTED, connect_tls(&e.addr, ccfg, "wild.test", &s));
    EXPECT_OK(cio_server_close(e.srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(sni_picks_certificate)
{
    RUN(sni_main, NULL);
}

/* ---- Verification failures ---------------------------------------------- */

static void expect_fail(cio_tls_config *server_cfg, const char *name, int err, const char *word)
{
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct echo_srv e = {0};
    echo_start(&e, server_cfg);
    cio_stream *s = (cio_stream *)1;
    EXPECT_ERR(err, connect_tls(&e.addr, ccfg, name, &s));
    EXPECT_TRUE(s == NULL);
    if (!strstr(cio_tls_last_error(), word))
        FAIL("\"%s\" does not say \"%s\"", cio_tls_last_error(), word);
    EXPECT_OK(cio_server_close(e.srv, 10));
    EXPECT_EQ(0, e.handled);
    cio_tls_config_free(ccfg);
    cio_tls_config_free(server_cfg);
}

static int verify_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    expect_fail(tls_server_cfg(CIO_TLS_OPTIONS(.cert_file = tls_path("expired.pem"),
                                               .key_file = tls_path("expired.key"))),
                "localhost", -EKEYEXPIRED, "expired");
    expect_fail(tls_server_cfg(CIO_TLS_OPTIONS()), "wronghost.test", -EKEYREJECTED,
                "hostname mismatch");
    expect_fail(tls_server_cfg(CIO_TLS_OPTIONS()), "127.0.0.2", -EKEYREJECTED, "IP address");
    expect_fail(tls_server_cfg(CIO_TLS_OPTIONS(.cert_file = tls_path("unknownca.pem"),
                                               .key_file = tls_path("unknownca.key"))),
                "localhost", -EKEYREJECTED, "issuer");
    /* an IP literal is checked against the certificate's addresses */
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    cio_stream *s;
    EXPECT_OK(connect_tls(&e.addr, ccfg, "127.0.0.1", &s));
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    EXPECT_TRUE(inf.peer_verified);
    EXPECT_OK(cio_stream_close(s));
    /* insecure: neither the CA nor the name */
    cio_tls_config *ins = tls_client_cfg(CIO_TLS_OPTIONS(.insecure = true));
    EXPECT_OK(connect_tls(&e.addr, ins, "wronghost.test", &s));
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(connect_tls(&e.addr, ins, NULL, &s));
    EXPECT_OK(cio_stream_close(s));
    /* verification on and no name */
    s = (cio_stream *)1;
    EXPECT_ERR(-EINVAL, connect_tls(&e.addr, ccfg, NULL, &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_OK(cio_server_close(e.srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    cio_tls_config_free(ins);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(verify_failures)
{
    RUN(verify_main, NULL);
}

/* ---- Client certificates -------------------------------------------------- */

struct cc_srv {
    cio_tls_config *cfg;
    int lfd;
    int rc;        /* the server side's start_tls */
    bool verified;
};

/* A plain accept upgraded by start_tls: the server's own error shows. */
static int cc_server(void *arg, void **res)
{
    (void)res;
    struct cc_srv *k = arg;
    int fd;
    EXPECT_OK(cio_socket_accept(k->lfd, &fd, NULL));
    cio_stream *s;
    EXPECT_OK(cio_stream_new(fd, NULL, &s));
    k->rc = cio_stream_start_tls(s, k->cfg, NULL);
    if (k->rc == 0) {
        cio_tls_info inf;
        EXPECT_OK(cio_stream_tls_info(s, &inf));
        k->verified = inf.peer_verified;
        char b[8];
        ssize_t n = cio_stream_read(s, b, sizeof b);
        EXPECT_EQ(1, n);
        EXPECT_OK(cio_stream_write(s, b, 1));
        EXPECT_OK(cio_stream_close(s));
    } else {
        EXPECT_OK(cio_stream_abort(s));
    }
    return 0;
}

static int ccert_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(
        .client_cert = CIO_TLS_CLIENT_CERT_REQUIRED, .ca_file = tls_path("ca.pem")));
    cio_tls_config *with = tls_client_cfg(CIO_TLS_OPTIONS(.cert_file = tls_path("client.pem"),
                                                          .key_file = tls_path("client.key")));
    cio_tls_config *without = tls_client_cfg(CIO_TLS_OPTIONS());
    cio_addr a = tls_loopback(), la;
    struct cc_srv k = {.cfg = scfg};
    EXPECT_OK(cio_socket_listen(&a, NULL, &k.lfd));
    EXPECT_OK(cio_socket_local(k.lfd, &la));
    /* given: both sides verified */
    cio_task *t;
    EXPECT_OK(cio_spawn(cc_server, &k, &t));
    cio_stream *s;
    EXPECT_OK(connect_tls(&la, with, "localhost", &s));
    EXPECT_OK(cio_stream_write(s, "y", 1));
    char b[8];
    EXPECT_EQ(1, cio_stream_read(s, b, sizeof b));
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(k.rc);
    EXPECT_TRUE(k.verified);
    /* missing: the server fails its handshake; the client (TLS 1.3: its
     * handshake ends first) learns it from the server's alert */
    EXPECT_OK(cio_spawn(cc_server, &k, &t));
    int rc = connect_tls(&la, without, "localhost", &s);
    if (rc == 0) {
        ssize_t n = cio_stream_read(s, b, sizeof b);
        EXPECT_ERR(-EKEYREJECTED, n);
        EXPECT_TRUE(strstr(cio_tls_last_error(), "certificate required") != NULL);
        EXPECT_OK(cio_stream_abort(s));
    } else {
        EXPECT_ERR(-EKEYREJECTED, rc);
    }
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-EKEYREJECTED, k.rc);
    /* a certificate chosen by SNI verifies client certificates too */
    cio_tls_config *scfg2 = tls_server_cfg(CIO_TLS_OPTIONS(
        .client_cert = CIO_TLS_CLIENT_CERT_REQUIRED, .ca_file = tls_path("ca.pem")));
    EXPECT_OK(cio_tls_config_add_cert(scfg2, tls_path("sni.pem"), tls_path("sni.key")));
    k.cfg = scfg2;
    EXPECT_OK(cio_spawn(cc_server, &k, &t));
    EXPECT_OK(connect_tls(&la, with, "alt.test", &s));
    EXPECT_OK(cio_stream_write(s, "y", 1));
    EXPECT_EQ(1, cio_stream_read(s, b, sizeof b));
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(k.rc);
    EXPECT_TRUE(k.verified);
    cio_fd_close(k.lfd);
    cio_tls_config_free(scfg2);
    cio_tls_config_free(scfg);
    cio_tls_config_free(with);
    cio_tls_config_free(without);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(client_certificate)
{
    RUN(ccert_main, NULL);
}

/* ---- Resumption ---------------------------------------------------------- */

static void round_trip(cio_stream *s)
{
    char b[8];
    EXPECT_OK(cio_stream_write(s, "r", 1));
    EXPECT_EQ(1, cio_stream_read(s, b, sizeof b));
}

static int resume_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *nocache = tls_client_cfg(CIO_TLS_OPTIONS(.no_tickets = true));
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    cio_tls_info inf;
    cio_stream *s;
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(connect_tls(&e.addr, ccfg, "localhost", &s));
        EXPECT_OK(cio_stream_tls_info(s, &inf));
        EXPECT_EQ(i > 0, inf.resumed);
        round_trip(s); /* TLS 1.3: the tickets come after the handshake */
        EXPECT_OK(cio_stream_close(s));
    }
    EXPECT_TRUE(e.info.resumed);
    /* A TLS 1.3 ticket is used once: the connection that resumed with the
     * cached one has not read its fresh tickets yet (they follow the
     * handshake), so a second connection made meanwhile finds none. */
    cio_stream *s2;
    EXPECT_OK(connect_tls(&e.addr, ccfg, "localhost", &s));
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    EXPECT_TRUE(inf.resumed);
    EXPECT_OK(connect_tls(&e.addr, ccfg, "localhost", &s2));
    EXPECT_OK(cio_stream_tls_info(s2, &inf));
    EXPECT_FALSE(inf.resumed);
    round_trip(s);
    round_trip(s2);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_stream_close(s2));
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(connect_tls(&e.addr, nocache, "localhost", &s));
        EXPECT_OK(cio_stream_tls_info(s, &inf));
        EXPECT_FALSE(inf.resumed);
        round_trip(s);
        EXPECT_OK(cio_stream_close(s));
    }
    EXPECT_OK(cio_server_close(e.srv, 10));
    /* a server without tickets: never resumed */
    cio_tls_config *snot = tls_server_cfg(CIO_TLS_OPTIONS(.no_tickets = true));
    cio_tls_config *c2 = tls_client_cfg(CIO_TLS_OPTIONS());
    struct echo_srv e2 = {0};
    echo_start(&e2, snot);
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(connect_tls(&e2.addr, c2, "localhost", &s));
        EXPECT_OK(cio_stream_tls_info(s, &inf));
        EXPECT_FALSE(inf.resumed);
        round_trip(s);
        EXPECT_OK(cio_stream_close(s));
    }
    EXPECT_OK(cio_server_close(e2.srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    cio_tls_config_free(nocache);
    cio_tls_config_free(snot);
    cio_tls_config_free(c2);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(session_resumed)
{
    RUN(resume_main, NULL);
}

/* ---- STARTTLS ---------------------------------------------------------------- */

struct stls {
    cio_stream *s;
    cio_tls_config *cfg;
    bool go;          /* answer "GO" before upgrading */
    size_t buffered;  /* what the server had buffered past the line */
};

static int stls_server(void *arg, void **res)
{
    (void)res;
    struct stls *k = arg;
    char line[64];
    EXPECT_EQ(9, cio_stream_read_line(k->s, line, sizeof line));
    EXPECT_TRUE(memcmp(line, "STARTTLS\n", 9) == 0);
    k->buffered = cio_stream_readable(k->s);
    if (k->go)
        EXPECT_OK(cio_stream_write(k->s, "GO\n", 3));
    EXPECT_OK(cio_stream_start_tls(k->s, k->cfg, NULL));
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(k->s, k->cfg, NULL)); /* already TLS */
    char b[64];
    ssize_t n = cio_stream_read_line(k->s, b, sizeof b);
    EXPECT_EQ(6, n);
    EXPECT_OK(cio_stream_write(k->s, b, (size_t)n));
    EXPECT_OK(cio_stream_close(k->s));
    return 0;
}

static int starttls_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    for (int go = 0; go < 2; go++) {
        int fds[2];
        EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
        cio_stream *c;
        struct stls k = {.cfg = scfg, .go = go};
        EXPECT_OK(cio_stream_new(fds[0], NULL, &c));
        EXPECT_OK(cio_stream_new(fds[1], NULL, &k.s));
        /* The line, then (without go) at once the ClientHello: the server
         * reads both together, the hello buffered behind the line. */
        EXPECT_OK(cio_stream_write(c, "STARTTLS\n", 9));
        cio_task *t;
        EXPECT_OK(cio_spawn(stls_server, &k, &t));
        if (go) {
            char line[8];
            EXPECT_EQ(3, cio_stream_read_line(c, line, sizeof line));
        }
        EXPECT_OK(cio_stream_start_tls(c, ccfg, "localhost"));
        EXPECT_OK(cio_stream_write(c, "hello\n", 6));
        char b[64];
        EXPECT_EQ(6, cio_stream_read_line(c, b, sizeof b));
        EXPECT_EQ(0, cio_stream_read(c, b, sizeof b));
        EXPECT_OK(cio_await(t, NULL));
        cio_future_unref(t);
        if (go)
            EXPECT_EQ(0, k.buffered);
        else
            EXPECT_TRUE(k.buffered > 0);
        EXPECT_OK(cio_stream_close(c));
    }
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(starttls)
{
    RUN(starttls_main, NULL);
}

/* STARTTLS on a transport: bytes written before go in the clear. */
struct tstls {
    cio_tls_config *cfg;
    size_t clear; /* plaintext bytes written before start_tls */
    cio_future *hs;
    char got[64];
    size_t len;
    int lost, lost_err;
};

static int tstls_made(cio_transport *t, void *arg, void **ctx)
{
    (void)t, (void)arg, (void)ctx;
    return 0;
}

static void tstls_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    struct tstls *k = ctx;
    if (!k->hs) {
        EXPECT_TRUE(len == 9 && memcmp(d, "STARTTLS\n", 9) == 0);
        for (size_t off = 0; off < k->clear; off += 65536) {
            static char plain[65536];
            memset(plain, 'p', sizeof plain);
            EXPECT_OK(cio_transport_write(t, plain, sizeof plain));
        }
        EXPECT_OK(cio_transport_write(t, "GO\n", 3)); /* in the clear */
        if (k->clear)
            EXPECT_TRUE(cio_transport_buffered(t) > 0); /* the socket took only some */
        EXPECT_OK(cio_transport_start_tls(t, k->cfg, NULL, &k->hs));
        EXPECT_ERR(-EINVAL, cio_transport_start_tls(t, k->cfg, NULL, NULL));
        EXPECT_OK(cio_transport_write(t, "sealed\n", 7)); /* after the handshake */
        return;
    }
    EXPECT_TRUE(cio_future_is_done(k->hs));
    memcpy(k->got + k->len, d, len);
    k->len += len;
    if (k->len == 6)
        EXPECT_OK(cio_transport_close(t));
}

static void tstls_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct tstls *k = ctx;
    k->lost++;
    k->lost_err = err;
}

static const cio_protocol tstls_proto = {
    .connection_made = tstls_made, .data_received = tstls_data, .connection_lost = tstls_lost};

static int tstarttls_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    /* round 1: megabytes written in the clear before start_tls, most of
     * them still buffered: they go first, in the clear */
    for (int round = 0; round < 2; round++) {
        int fds[2];
        EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
        struct tstls k = {.cfg = scfg, .clear = round ? (size_t)(4u << 20) : 0};
        cio_transport *t;
        EXPECT_OK(cio_transport_new(cio_current_loop(), fds[1], NULL, &tstls_proto, &k, &t));
        cio_stream *c;
        EXPECT_OK(cio_stream_new(fds[0], NULL, &c));
        EXPECT_OK(cio_stream_write(c, "STARTTLS\n", 9));
        char line[16];
        for (size_t got = 0; got < k.clear;) {
            static char plain[65536];
            size_t want = k.clear - got < sizeof plain ? k.clear - got : sizeof plain;
            EXPECT_EQ(want, cio_stream_read_exactly(c, plain, want));
            EXPECT_TRUE(plain[0] == 'p' && plain[want - 1] == 'p');
            got += want;
        }
        EXPECT_EQ(3, cio_stream_read_line(c, line, sizeof line));
        EXPECT_OK(cio_stream_start_tls(c, ccfg, "localhost"));
        EXPECT_EQ(7, cio_stream_read_line(c, line, sizeof line));
        EXPECT_TRUE(memcmp(line, "sealed\n", 7) == 0);
        EXPECT_OK(cio_stream_write(c, "hello\n", 6));
        EXPECT_EQ(0, cio_stream_read(c, line, sizeof line));
        EXPECT_OK(cio_await(k.hs, NULL));
        cio_future_unref(k.hs);
        for (int i = 0; i < 100000 && !k.lost; i++)
            EXPECT_OK(cio_sleep(0.001));
        EXPECT_EQ(1, k.lost);
        EXPECT_EQ(0, k.lost_err);
        EXPECT_TRUE(memcmp(k.got, "hello\n", 6) == 0);
        EXPECT_OK(cio_stream_close(c));
    }
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(transport_starttls)
{
    RUN(tstarttls_main, NULL);
}

/* ---- A stalling client is cut off by handshake_timeout ------------------ */

static int stall_main(void *arg, void **res)
{
    (void)res;
    bool protocol = arg != NULL;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.handshake_timeout = 0.2));
    cio_addr a = tls_loopback(), sa;
    cio_server *srv;
    struct echo_srv e = {0};
    int made = 0;
    cio_server_options so = CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = scfg));
    if (protocol)
        EXPECT_OK(cio_server_new_protocol(&a, &so, &tp_echo_proto, &made, &srv));
    else
        EXPECT_OK(cio_server_new(&a, &so, tls_echo_handler, &e, &srv));
    EXPECT_OK(cio_server_addr(srv, &sa));
    /* connects, sends nothing */
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(&sa, NULL, NULL, &s));
    /* and one that sends half a ClientHello */
    cio_stream *s2;
    EXPECT_OK(cio_stream_connect(&sa, NULL, NULL, &s2));
    EXPECT_OK(cio_stream_write(s2, "\x16\x03\x01\x02\x00\x01", 6));
    char b[64];
    /* the server gives up: the connection ends (an alert at most) */
    ssize_t n;
    while ((n = cio_stream_read(s, b, sizeof b)) > 0)
        ;
    EXPECT_TRUE(n == 0 || n == -ECONNRESET);
    while ((n = cio_stream_read(s2, b, sizeof b)) > 0)
        ;
    EXPECT_TRUE(n == 0 || n == -ECONNRESET);
    for (int i = 0; i < 100000 && cio_server_connections(srv); i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(0, cio_server_connections(srv));
    EXPECT_EQ(0, e.handled);
    EXPECT_EQ(0, made);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_stream_close(s2));
    EXPECT_OK(cio_server_close(srv, 10));
    cio_tls_config_free(scfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(stalling_client_cut_off_stream_server)
{
    RUN(stall_main, NULL);
}

TEST(stalling_client_cut_off_protocol_server)
{
    RUN(stall_main, "protocol");
}

/* A client's handshake against a server that never answers: the
 * configuration's timeout ends it (-ETIMEDOUT), in a task and in a
 * transport connect. */
/* Accepts one connection and closes it once its ClientHello came. */
static int accept_close(void *arg, void **res)
{
    (void)res;
    int lfd = *(int *)arg;
    int fd;
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    cio_stream *s;
    EXPECT_OK(cio_stream_new(fd, NULL, &s));
    char b[64];
    EXPECT_TRUE(cio_stream_read(s, b, sizeof b) > 0);
    EXPECT_OK(cio_stream_close(s));
    return 0;
}

static int client_stall_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.handshake_timeout = 0.1));
    cio_addr a = tls_loopback(), la;
    int lfd;
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd));
    EXPECT_OK(cio_socket_local(lfd, &la));
    cio_stream *s;
    EXPECT_ERR(-ETIMEDOUT, connect_tls(&la, ccfg, "localhost", &s));
    EXPECT_TRUE(strstr(cio_tls_last_error(), "timed out") != NULL);
    struct tcli k = {0};
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &la, NULL,
                                    &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "localhost"),
                                    &tc_proto, &k, &f));
    EXPECT_ERR(-ETIMEDOUT, cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ(0, k.made);
    EXPECT_EQ(0, k.lost);
    /* the task's own deadline bounds it too */
    cio_tls_config *slow = tls_client_cfg(CIO_TLS_OPTIONS(.handshake_timeout = INFINITY));
    cio_scope inner;
    EXPECT_OK(cio_timeout_begin(&inner, 0.1));
    EXPECT_ERR(-ETIMEDOUT, connect_tls(&la, slow, "localhost", &s));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&inner));
    /* the listener's backlog: close them */
    for (;;) {
        int fd;
        int rc = cio_socket_accept(lfd, &fd, NULL);
        EXPECT_OK(rc);
        close(fd);
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 0) != 1)
            break;
    }
    /* a peer that closes during the handshake */
    cio_task *closer;
    EXPECT_OK(cio_spawn(accept_close, &lfd, &closer));
    EXPECT_ERR(-ECONNRESET, connect_tls(&la, slow, "localhost", &s));
    EXPECT_TRUE(strstr(cio_tls_last_error(), "closed") || strstr(cio_tls_last_error(), "reset"));
    EXPECT_OK(cio_await(closer, NULL));
    cio_future_unref(closer);
    cio_fd_close(lfd);
    cio_tls_config_free(ccfg);
    cio_tls_config_free(slow);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(client_handshake_timeout)
{
    RUN(client_stall_main, NULL);
}

/* ---- Half-close, abort -------------------------------------------------- */

struct hc {
    bool eof;
    char got[64];
    size_t len;
    int lost, lost_err;
};

static int hc_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx, (void)arg;
    EXPECT_OK(cio_transport_write(t, "last words\n", 11));
    EXPECT_OK(cio_transport_write_eof(t));
    return 0;
}

static void hc_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)t;
    struct hc *k = ctx;
    memcpy(k->got + k->len, d, len);
    k->len += len;
}

static bool hc_eof(cio_transport *t, void *ctx)
{
    (void)t;
    struct hc *k = ctx;
    k->eof = true;
    return false;
}

static void hc_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct hc *k = ctx;
    k->lost++;
    k->lost_err = err;
}

static const cio_protocol hc_proto = {.connection_made = hc_made,
                                      .data_received = hc_data,
                                      .eof_received = hc_eof,
                                      .connection_lost = hc_lost};

static int halfclose_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    /* the stream echo server answers after the client's half-close */
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    struct hc k = {0};
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &e.addr, NULL,
                                    &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "localhost"),
                                    &hc_proto, &k, &f));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    for (int i = 0; i < 100000 && !k.lost; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_TRUE(k.eof);
    EXPECT_EQ(0, k.lost_err);
    EXPECT_EQ(11, k.len);
    EXPECT_TRUE(memcmp(k.got, "last words\n", 11) == 0);
    /* abort: the peer sees the end, no close_notify */
    cio_stream *s;
    EXPECT_OK(connect_tls(&e.addr, ccfg, "localhost", &s));
    round_trip(s);
    EXPECT_OK(cio_stream_abort(s));
    EXPECT_OK(cio_server_close(e.srv, 10));
    EXPECT_EQ(2, e.handled);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(half_close_and_abort)
{
    RUN(halfclose_main, NULL);
}

/* ---- sendfile over TLS (kTLS absent here: the copy through the stream) --- */

struct sf {
    cio_stream *s;
    int fd;
    size_t size;
};

static int sf_writer(void *arg, void **res)
{
    (void)res;
    struct sf *k = arg;
    EXPECT_EQ(k->size, cio_stream_sendfile(k->s, k->fd, 0, k->size));
    EXPECT_OK(cio_stream_shutdown(k->s));
    return 0;
}

static int sendfile_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.ktls = true));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.ktls = true));
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sendfile.XXXXXX", tls_dir);
    int fd = mkstemp(path);
    EXPECT_TRUE(fd >= 0);
    unlink(path);
    size_t size = (3u << 19) + 12345;
    unsigned char *data = malloc(size);
    for (size_t i = 0; i < size; i++)
        data[i] = bulk_byte(i);
    EXPECT_EQ((ssize_t)size, write(fd, data, size));
    cio_stream *s;
    EXPECT_OK(connect_tls(&e.addr, ccfg, "localhost", &s));
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    /* (no tls ULP in this kernel: inf.ktls_send is false and the file
     * goes through the write path) */
    struct sf k = {s, fd, size};
    cio_task *t;
    EXPECT_OK(cio_spawn(sf_writer, &k, &t));
    unsigned char *back = malloc(size);
    EXPECT_EQ((ssize_t)size, cio_stream_read_exactly(s, back, size));
    EXPECT_TRUE(memcmp(back, data, size) == 0);
    char b[8];
    EXPECT_EQ(0, cio_stream_read(s, b, sizeof b));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(cio_stream_close(s));
    close(fd);
    free(data);
    free(back);
    EXPECT_OK(cio_server_close(e.srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(sendfile_over_tls)
{
    RUN(sendfile_main, NULL);
}

/* ---- Argument checks --------------------------------------------------------- */

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(tls_path(name), "w");
    EXPECT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

TEST(config_arguments)
{
    cio_tls_config *cfg = (cio_tls_config *)1;
    EXPECT_ERR(-EINVAL, cio_tls_config_new(NULL, &cfg));
    EXPECT_TRUE(cfg == NULL);
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(), NULL));
    cio_tls_options bad = {0};
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&bad, &cfg));
    struct {
        cio_tls_options o;
        char more[16];
    } newer = {.o = CIO_TLS_OPTIONS_INIT};
    newer.o.size = sizeof newer;
    newer.more[3] = 1;
    EXPECT_ERR(-E2BIG, cio_tls_config_new(&newer.o, &cfg));
    newer.more[3] = 0;
    EXPECT_OK(cio_tls_config_new(&newer.o, &cfg)); /* unknown fields at zero: fine */
    cio_tls_config_free(cfg);
    /* a server without a certificate; client_cert without CAs */
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true), &cfg));
    EXPECT_ERR(-EINVAL, cio_tls_config_new(
                            &CIO_TLS_OPTIONS(.server = true, .cert_file = tls_path("server.pem"),
                                             .key_file = tls_path("server.key"),
                                             .client_cert = CIO_TLS_CLIENT_CERT_REQUIRED),
                            &cfg));
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(.client_cert = 7), &cfg));
    /* versions */
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(.min_version = 0x0302), &cfg));
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(.max_version = 0x0305), &cfg));
    EXPECT_ERR(-EINVAL, cio_tls_config_new(
                            &CIO_TLS_OPTIONS(.min_version = CIO_TLS_1_3, .max_version = CIO_TLS_1_2),
                            &cfg));
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(.handshake_timeout = -1), &cfg));
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(.handshake_timeout = NAN), &cfg));
    /* ALPN lists */
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    const char *alpns[] = {"", "h2,", ",h2", "h2,,http/1.1", longname};
    for (size_t i = 0; i < sizeof alpns / sizeof alpns[0]; i++)
        EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(.alpn = alpns[i]), &cfg));
    EXPECT_OK(cio_tls_config_new(&CIO_TLS_OPTIONS(.alpn = "h2,http/1.1"), &cfg));
    EXPECT_STR_EQ("", cio_tls_last_error());
    EXPECT_TRUE(cio_tls_config_ssl_ctx(cfg) != NULL);
    /* a client configuration takes no more certificates */
    EXPECT_ERR(-EINVAL, cio_tls_config_add_cert(cfg, tls_path("sni.pem"), NULL));
    cio_tls_config_free(cfg);
    /* files */
    EXPECT_ERR(-ENOENT, cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true,
                                                            .cert_file = tls_path("nope.pem")),
                                           &cfg));
    EXPECT_TRUE(strstr(cio_tls_last_error(), "nope.pem") != NULL);
    EXPECT_ERR(-ENOENT, cio_tls_config_new(&CIO_TLS_OPTIONS(.ca_file = tls_path("nope.pem")), &cfg));
    write_file("garbage.pem", "not a certificate\n");
    EXPECT_ERR(-EPROTO, cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true,
                                                            .cert_file = tls_path("garbage.pem")),
                                           &cfg));
    EXPECT_ERR(-EPROTO, cio_tls_config_new(&CIO_TLS_OPTIONS(.ca_file = tls_path("garbage.pem")),
                                           &cfg));
    /* a key of another certificate */
    EXPECT_ERR(-EPROTO, cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true,
                                                            .cert_file = tls_path("server.pem"),
                                                            .key_file = tls_path("sni.key")),
                                           &cfg));
    EXPECT_TRUE(strlen(cio_tls_last_error()) > 0);
    /* the key in the certificate file: none there */
    EXPECT_ERR(-EPROTO, cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true,
                                                            .cert_file = tls_path("server.pem")),
                                           &cfg));
    EXPECT_ERR(-EPROTO, cio_tls_config_new(&CIO_TLS_OPTIONS(.ciphers = "NO-SUCH-CIPHER"), &cfg));
    EXPECT_ERR(-EPROTO,
               cio_tls_config_new(&CIO_TLS_OPTIONS(.ciphersuites = "TLS_NO_SUCH"), &cfg));
    EXPECT_ERR(-EPROTO, cio_tls_config_new(&CIO_TLS_OPTIONS(.groups = "nosuchgroup"), &cfg));
    EXPECT_ERR(-EINVAL, cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true, .cert_file = NULL),
                                           &cfg));
    /* add_cert */
    cio_tls_config *srv = tls_server_cfg(CIO_TLS_OPTIONS());
    EXPECT_ERR(-EINVAL, cio_tls_config_add_cert(NULL, tls_path("sni.pem"), NULL));
    EXPECT_ERR(-EINVAL, cio_tls_config_add_cert(srv, NULL, NULL));
    EXPECT_ERR(-ENOENT, cio_tls_config_add_cert(srv, tls_path("nope.pem"), NULL));
    EXPECT_ERR(-EPROTO, cio_tls_config_add_cert(srv, tls_path("sni.pem"), tls_path("server.key")));
    EXPECT_OK(cio_tls_config_add_cert(srv, tls_path("sni.pem"), tls_path("sni.key")));
    cio_tls_config_free(srv);
    cio_tls_config_free(NULL);
    EXPECT_TRUE(cio_tls_config_ssl_ctx(NULL) == NULL);
    /* a combined file: key and certificate in one */
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "cat '%s' '%s' > '%s'", tls_path("server.pem"),
             tls_path("server.key"), tls_path("combined.pem"));
    EXPECT_EQ(0, system(cmd));
    srv = tls_server_cfg(CIO_TLS_OPTIONS(.cert_file = tls_path("combined.pem")));
    cio_tls_config_free(srv);
}

static int srv_seq_handler(cio_stream *s, void *arg)
{
    (void)s, (void)arg;
    return 0;
}

static int call_args_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    cio_tls_info inf;
    EXPECT_ERR(-EINVAL, cio_stream_tls_info(NULL, &inf));
    EXPECT_ERR(-EINVAL, cio_transport_tls_info(NULL, &inf));
    EXPECT_TRUE(cio_stream_ssl(NULL) == NULL);
    EXPECT_TRUE(cio_transport_ssl(NULL) == NULL);
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(NULL, ccfg, "localhost"));
    EXPECT_ERR(-EINVAL, cio_transport_start_tls(NULL, ccfg, "localhost", NULL));
    /* a TLS server needs a byte stream: a SOCK_SEQPACKET listener is refused
     * (its connections could never handshake) and nothing is left open */
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(lfd >= 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    EXPECT_OK(bind(lfd, (struct sockaddr *)&un, sizeof(sa_family_t))); /* autobind */
    EXPECT_OK(listen(lfd, 4));
    cio_server *srv = (cio_server *)1;
    EXPECT_ERR(-EINVAL,
               cio_server_new(NULL,
                              &CIO_SERVER_OPTIONS(.fd = &lfd,
                                                  .stream = &CIO_STREAM_OPTIONS(.tls = scfg)),
                              srv_seq_handler, NULL, &srv));
    EXPECT_TRUE(srv == NULL);
    /* nor a client's configuration: every connection would be a TLS client */
    cio_addr la = tls_loopback();
    srv = (cio_server *)1;
    EXPECT_ERR(-EINVAL,
               cio_server_new(&la, &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = ccfg)),
                              srv_seq_handler, NULL, &srv));
    EXPECT_TRUE(srv == NULL);
    EXPECT_OK(close(lfd)); /* still the caller's */
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    /* cio_stream_new does no TLS: start_tls does */
    cio_stream *s = (cio_stream *)1;
    EXPECT_ERR(-EINVAL, cio_stream_new(fds[0], &CIO_STREAM_OPTIONS(.tls = ccfg), &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_OK(cio_stream_new(fds[0], NULL, &s));
    EXPECT_ERR(-EINVAL, cio_stream_tls_info(s, NULL));
    EXPECT_ERR(-ENOTCONN, cio_stream_tls_info(s, &inf));
    EXPECT_TRUE(cio_stream_ssl(s) == NULL);
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(s, NULL, "localhost"));
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(s, ccfg, NULL)); /* verification needs a name */
    EXPECT_TRUE(strlen(cio_tls_last_error()) > 0);
    EXPECT_OK(cio_stream_close(s));
    /* a pipe is not a socket */
    int p[2];
    EXPECT_EQ(0, pipe2(p, O_CLOEXEC));
    EXPECT_OK(cio_stream_new(p[0], NULL, &s));
    cio_tls_config *ins = tls_client_cfg(CIO_TLS_OPTIONS(.insecure = true));
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(s, ins, NULL));
    EXPECT_OK(cio_stream_close(s));
    close(p[1]);
    /* transports */
    int made = 0;
    cio_transport *t;
    EXPECT_ERR(-EINVAL, cio_transport_new(cio_current_loop(), fds[1],
                                          &CIO_STREAM_OPTIONS(.tls = ccfg), &tp_echo_proto, NULL,
                                          &t)); /* no name */
    static const cio_protocol plain_proto = {.data_received = tp_echo};
    EXPECT_OK(cio_transport_new(cio_current_loop(), fds[1], NULL, &plain_proto, &made, &t));
    EXPECT_ERR(-ENOTCONN, cio_transport_tls_info(t, &inf));
    EXPECT_TRUE(cio_transport_ssl(t) == NULL);
    EXPECT_ERR(-EINVAL, cio_transport_start_tls(t, NULL, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_transport_start_tls(t, ccfg, NULL, NULL));
    EXPECT_OK(cio_transport_abort(t));
    cio_addr a = tls_loopback();
    EXPECT_ERR(-EINVAL, cio_transport_connect(cio_current_loop(), &a, NULL,
                                              &CIO_STREAM_OPTIONS(.tls = ccfg), &tp_echo_proto,
                                              NULL, NULL));
    /* a handshake not done yet: no info */
    int q[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, q));
    EXPECT_OK(cio_transport_new(cio_current_loop(), q[0], &CIO_STREAM_OPTIONS(.tls = scfg),
                                &tp_echo_proto, &made, &t));
    EXPECT_ERR(-ENOTCONN, cio_transport_tls_info(t, &inf));
    EXPECT_TRUE(cio_transport_ssl(t) != NULL);
    EXPECT_OK(cio_transport_abort(t));
    close(q[1]);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    cio_tls_config_free(ins);
    EXPECT_OK(cio_sleep(0.01)); /* the aborted transports' ends */
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(call_arguments)
{
    RUN(call_args_main, NULL);
}

/* ---- Memory of idle TLS connections -------------------------------------- */

#include <malloc.h>
#include <openssl/ssl.h>

static size_t heap_used(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks;
}

#define IDLE_N 100

static int idle_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    int made = 0;
    cio_addr a = tls_loopback(), sa;
    cio_server *srv;
    EXPECT_OK(cio_server_new_protocol(
        &a, &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = scfg)), &tp_echo_proto,
        &made, &srv));
    EXPECT_OK(cio_server_addr(srv, &sa));
    static cio_stream *s[IDLE_N];
    /* warm up: the first connections make OpenSSL's caches and the pools */
    for (int i = 0; i < 4; i++) {
        EXPECT_OK(connect_tls(&sa, ccfg, "localhost", &s[i]));
        round_trip(s[i]);
    }
    for (int i = 0; i < 4; i++)
        EXPECT_OK(cio_stream_close(s[i]));
    for (int i = 0; i < 1000 && cio_server_connections(srv); i++)
        EXPECT_OK(cio_sleep(0.001));
    size_t before = heap_used();
    for (int i = 0; i < IDLE_N; i++) {
        EXPECT_OK(connect_tls(&sa, ccfg, "localhost", &s[i]));
        round_trip(s[i]); /* the handshake's last bytes, a ticket, gone */
    }
    EXPECT_OK(cio_sleep(0.01));
    size_t both = heap_used();
    /* no record buffer left to free */
    for (int i = 0; i < IDLE_N; i++)
        EXPECT_EQ(1, SSL_free_buffers(cio_stream_ssl(s[i])));
    EXPECT_EQ(both, heap_used());
    for (int i = 0; i < IDLE_N; i++)
        cio_stream_abort(s[i]);
    size_t server_only = heap_used();
    for (int i = 0; i < 100000 && cio_server_connections(srv); i++)
        EXPECT_OK(cio_sleep(0.001));
    if (both == 0) { /* a sanitizer's allocator: mallinfo sees nothing */
        EXPECT_OK(cio_server_close(srv, 10));
        cio_tls_config_free(scfg);
        cio_tls_config_free(ccfg);
        EXPECT_OK(cio_scope_end(&sc));
        return 0;
    }
    size_t per_client = (both - server_only) / IDLE_N;
    size_t per_server = server_only > before ? (server_only - before) / IDLE_N : 0;
    printf("idle TLS connection after the handshake: client %zu bytes, server %zu bytes\n",
           per_client, per_server);
    /* the SSL object (about 16 KiB with its session and keys) and the
     * connection: no 16 KiB record buffer on top */
    EXPECT_TRUE(per_client < 24576);
    EXPECT_TRUE(per_server < 24576);
    EXPECT_OK(cio_server_close(srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(idle_connection_memory)
{
    RUN(idle_main, NULL);
}

/* ---- TLS 1.3 key updates, both ways ------------------------------------- */

static int ku_handler(cio_stream *s, void *arg)
{
    (void)arg;
    char line[128];
    for (;;) {
        ssize_t n = cio_stream_read_line(s, line, sizeof line);
        if (n <= 0)
            return n < 0 ? (int)n : 0;
        if (n == 10 && !memcmp(line, "KEYUPDATE\n", 10))
            EXPECT_EQ(1, SSL_key_update(cio_stream_ssl(s), SSL_KEY_UPDATE_REQUESTED));
        int rc = cio_stream_write(s, line, (size_t)n);
        if (rc)
            return rc;
    }
}

static int keyupdate_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    cio_addr a = tls_loopback(), sa;
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = scfg)),
                             ku_handler, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &sa));
    cio_stream *s;
    EXPECT_OK(connect_tls(&sa, ccfg, "localhost", &s));
    char line[128];
    for (int i = 0; i < 200; i++) {
        if (i % 20 == 5) /* the client's */
            EXPECT_EQ(1, SSL_key_update(cio_stream_ssl(s), SSL_KEY_UPDATE_REQUESTED));
        const char *msg = i % 20 == 10 ? "KEYUPDATE\n" : "some line of text\n"; /* the server's */
        size_t len = strlen(msg);
        EXPECT_OK(cio_stream_write(s, msg, len));
        EXPECT_EQ(len, cio_stream_read_line(s, line, sizeof line));
        EXPECT_TRUE(memcmp(line, msg, len) == 0);
    }
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_server_close(srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(key_updates)
{
    RUN(keyupdate_main, NULL);
}

/* ---- TLS 1.2 ------------------------------------------------------------------ */

static int tls12_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.max_version = CIO_TLS_1_2,
                                                          .alpn = "http/1.1"));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "h2,http/1.1"));
    cio_tls_config *only13 = tls_client_cfg(CIO_TLS_OPTIONS(.min_version = CIO_TLS_1_3));
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    cio_stream *s;
    cio_tls_info inf;
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(connect_tls(&e.addr, ccfg, "localhost", &s));
        EXPECT_OK(cio_stream_tls_info(s, &inf));
        EXPECT_EQ(CIO_TLS_1_2, inf.version);
        EXPECT_STR_EQ("http/1.1", inf.alpn);
        EXPECT_EQ(i > 0, inf.resumed); /* a TLS 1.2 ticket, in the handshake */
        round_trip(s);
        EXPECT_OK(cio_stream_close(s));
    }
    /* no version in common */
    EXPECT_ERR(-EPROTO, connect_tls(&e.addr, only13, "localhost", &s));
    EXPECT_TRUE(strlen(cio_tls_last_error()) > 0);
    EXPECT_OK(cio_server_close(e.srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    cio_tls_config_free(only13);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(tls12)
{
    RUN(tls12_main, NULL);
}

/* ---- Transport flow control over TLS -------------------------------------- */

struct fc {
    size_t sent;
    int pauses, resumes;
    bool paused;
};

#define FC_TOTAL (2u << 20)

static void fc_pump(cio_transport *t, struct fc *k)
{
    unsigned char buf[8192];
    while (!k->paused && k->sent < FC_TOTAL) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = bulk_byte(k->sent + i);
        EXPECT_OK(cio_transport_write(t, buf, sizeof buf));
        k->sent += sizeof buf;
        /* the transport buffers, pause_writing comes from the loop: stop at
         * the high-water mark as a protocol reading the buffer would */
        if (cio_transport_buffered(t) > 65536)
            break;
    }
    if (k->sent == FC_TOTAL)
        EXPECT_OK(cio_transport_close(t));
}

static int fc_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    fc_pump(t, arg);
    return 0;
}

static void fc_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)t, (void)d, (void)len, (void)ctx;
}

static void fc_pause(cio_transport *t, void *ctx)
{
    (void)t;
    struct fc *k = ctx;
    k->paused = true;
    k->pauses++;
}

static void fc_resume(cio_transport *t, void *ctx)
{
    struct fc *k = ctx;
    k->paused = false;
    k->resumes++;
    fc_pump(t, k);
}

static const cio_protocol fc_proto = {.connection_made = fc_made,
                                      .data_received = fc_data,
                                      .pause_writing = fc_pause,
                                      .resume_writing = fc_resume};

static int flow_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct fc k = {0};
    cio_addr a = tls_loopback(), sa;
    cio_server *srv;
    EXPECT_OK(cio_server_new_protocol(
        &a,
        &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = scfg, .high_water = 16384)),
        &fc_proto, &k, &srv));
    EXPECT_OK(cio_server_addr(srv, &sa));
    cio_stream *s;
    EXPECT_OK(connect_tls(&sa, ccfg, "localhost", &s));
    size_t got = 0;
    unsigned char buf[3000];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        EXPECT_TRUE(n >= 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != bulk_byte(got + (size_t)i))
                FAIL("byte %zu differs", got + (size_t)i);
        got += (size_t)n;
        if (got % 65536 < sizeof buf)
            EXPECT_OK(cio_sleep(0.0005)); /* a slow reader */
    }
    EXPECT_EQ(FC_TOTAL, got);
    EXPECT_TRUE(k.resumes > 0 || k.pauses == 0);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_server_close(srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(transport_flow_control)
{
    RUN(flow_main, NULL);
}

/* ---- One configuration shared by loops on two threads -------------------- */

struct shared {
    cio_tls_config *ccfg;
    cio_addr addr;
    int resumed;
};

static int shared_client(void *arg, void **res)
{
    (void)res;
    struct shared *k = arg;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    for (int i = 0; i < 20; i++) {
        cio_stream *s;
        EXPECT_OK(connect_tls(&k->addr, k->ccfg, "localhost", &s));
        cio_tls_info inf;
        EXPECT_OK(cio_stream_tls_info(s, &inf));
        k->resumed += inf.resumed;
        round_trip(s);
        EXPECT_OK(cio_stream_close(s));
    }
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

static void *shared_thread(void *arg)
{
    EXPECT_OK(cio_run(shared_client, arg, NULL));
    return NULL;
}

static int join_thread(void *arg, void **res)
{
    (void)res;
    return pthread_join(*(pthread_t *)arg, NULL) ? -EINVAL : 0;
}

static int shared_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    struct echo_srv e = {0};
    echo_start(&e, scfg);
    struct shared a = {.ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.session_cache = 2)),
                       .addr = e.addr};
    struct shared b = a;
    pthread_t th;
    EXPECT_EQ(0, pthread_create(&th, NULL, shared_thread, &b));
    /* this loop's client and the other thread's at once (the server is
     * served by this loop while its client task waits) */
    EXPECT_OK(shared_client(&a, NULL));
    /* the other thread: joined from a worker thread, not blocking this loop */
    EXPECT_OK(cio_to_thread(join_thread, &th, NULL));
    EXPECT_TRUE(a.resumed > 0 && b.resumed > 0);
    EXPECT_OK(cio_server_close(e.srv, 10));
    cio_tls_config_free(scfg);
    cio_tls_config_free(a.ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(config_shared_by_threads)
{
    RUN(shared_main, NULL);
}

int main(int argc, char **argv)
{
    tls_make_certs();
    return test_main(argc, argv);
}
