/* TLS, cio to cio over loopback (src/net/tls.c): handshakes in both styles,
 * echo with flow control, line reads, ALPN, SNI, client certificates,
 * verification failures and their texts, resumption, STARTTLS, handshake
 * timeouts, half-close, abort, sendfile, argument checks. The certificates
 * are made at start by tls_certs.sh (openssl command line) in a temporary
 * directory. */
#include <fcntl.h>
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

int main(int argc, char **argv)
{
    tls_make_certs();
    return test_main(argc, argv);
}
