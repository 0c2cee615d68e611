/* Review of src/net/tls.c (issue 9): one test per defect found. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>

#include "net/test_tls_util.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_EQ(before_, fd_count());                                                           \
    } while (0)

struct rv_srv {
    cio_server *srv;
    cio_addr addr;
    char cipher[64];
};

static int rv_echo_handler(cio_stream *s, void *arg)
{
    struct rv_srv *e = arg;
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    snprintf(e->cipher, sizeof e->cipher, "%s", inf.cipher ? inf.cipher : "");
    char buf[4096];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return n < 0 ? (int)n : 0;
        int rc = cio_stream_write(s, buf, (size_t)n);
        if (rc)
            return rc;
    }
}

static void rv_srv_start(struct rv_srv *e, cio_tls_config *cfg)
{
    cio_addr a = tls_loopback();
    EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = cfg)),
                             rv_echo_handler, e, &e->srv));
    EXPECT_OK(cio_server_addr(e->srv, &e->addr));
}

/* A server restricting its TLS 1.3 suites (and TLS 1.2 ciphers) keeps the
 * restriction for a client whose SNI picks a certificate added with
 * cio_tls_config_add_cert: the SNI callback switches the SSL to that
 * certificate's SSL_CTX, whose cipher lists were OpenSSL's defaults. */
static int sni_ciphers_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    static const struct {
        int ver;
        const char *name;
    } cases[] = {{CIO_TLS_1_3, "TLS_CHACHA20_POLY1305_SHA256"},
                 {CIO_TLS_1_2, "ECDHE-ECDSA-CHACHA20-POLY1305"}};
    for (size_t k = 0; k < 2; k++) {
        cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(
            .ciphersuites = "TLS_CHACHA20_POLY1305_SHA256",
            .ciphers = "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-CHACHA20-POLY1305"));
        EXPECT_OK(cio_tls_config_add_cert(scfg, tls_path("sni.pem"), tls_path("sni.key")));
        cio_tls_config *ccfg =
            tls_client_cfg(CIO_TLS_OPTIONS(.max_version = cases[k].ver, .no_tickets = true));
        struct rv_srv e = {0};
        rv_srv_start(&e, scfg);
        const char *names[] = {"localhost", "alt.test"};
        for (size_t i = 0; i < 2; i++) {
            cio_stream *s;
            EXPECT_OK(cio_stream_connect(
                &e.addr, NULL, &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = names[i]), &s));
            char b[4];
            EXPECT_OK(cio_stream_write(s, "x", 1));
            EXPECT_EQ(1, cio_stream_read(s, b, sizeof b));
            cio_tls_info inf;
            EXPECT_OK(cio_stream_tls_info(s, &inf));
            EXPECT_STR_EQ(cases[k].name, inf.cipher);
            EXPECT_STR_EQ(cases[k].name, e.cipher);
            EXPECT_OK(cio_stream_close(s));
        }
        EXPECT_OK(cio_server_close(e.srv, 10));
        cio_tls_config_free(scfg);
        cio_tls_config_free(ccfg);
    }
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(sni_certificate_keeps_ciphers)
{
    RUN(sni_ciphers_main, NULL);
}

/* ---- The session cache's key: name and port, also for STARTTLS --------- */

static int stls_handler(cio_stream *s, void *arg)
{
    EXPECT_OK(cio_stream_start_tls(s, (cio_tls_config *)arg, NULL));
    char b[8];
    ssize_t n = cio_stream_read(s, b, sizeof b);
    if (n > 0)
        EXPECT_OK(cio_stream_write(s, b, (size_t)n));
    return 0;
}

static bool stls_visit(const cio_addr *a, cio_tls_config *ccfg)
{
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(a, NULL, NULL, &s));
    EXPECT_OK(cio_stream_start_tls(s, ccfg, "localhost"));
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    char b[8];
    EXPECT_OK(cio_stream_write(s, "r", 1));
    EXPECT_EQ(1, cio_stream_read(s, b, sizeof b)); /* TLS 1.3: the tickets */
    EXPECT_OK(cio_stream_close(s));
    return inf.resumed;
}

/* Two STARTTLS servers, the same name, two ports: each one's session is
 * kept for it. (cio_stream_start_tls keyed the cache by "name:0", so B's
 * session took A's place and A was never resumed after B.) */
static int stls_key_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *sa = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *sb = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    cio_server *a, *b;
    cio_addr aa, ab, l = tls_loopback();
    EXPECT_OK(cio_server_new(&l, NULL, stls_handler, sa, &a));
    EXPECT_OK(cio_server_new(&l, NULL, stls_handler, sb, &b));
    EXPECT_OK(cio_server_addr(a, &aa));
    EXPECT_OK(cio_server_addr(b, &ab));
    EXPECT_FALSE(stls_visit(&aa, ccfg));
    EXPECT_FALSE(stls_visit(&ab, ccfg)); /* another port: a new session */
    EXPECT_TRUE(stls_visit(&aa, ccfg));
    EXPECT_TRUE(stls_visit(&ab, ccfg));
    EXPECT_OK(cio_server_close(a, 10));
    EXPECT_OK(cio_server_close(b, 10));
    cio_tls_config_free(sa);
    cio_tls_config_free(sb);
    cio_tls_config_free(ccfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(starttls_session_keyed_by_port)
{
    RUN(stls_key_main, NULL);
}

/* ---- A server name SNI cannot carry ------------------------------------- */

/* A name longer than SNI's 255 bytes is an argument error (-EINVAL with a
 * text), not -ENOMEM; and a refused cio_stream_start_tls leaves the bytes
 * the stream had buffered for reading in place. */
static int long_name_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ins = tls_client_cfg(CIO_TLS_OPTIONS(.insecure = true));
    char name[300];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = 0;
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    cio_stream *a, *b;
    EXPECT_OK(cio_stream_new(fds[0], NULL, &a));
    EXPECT_OK(cio_stream_new(fds[1], NULL, &b));
    EXPECT_OK(cio_stream_write(b, "hello\n", 6));
    char buf[16];
    EXPECT_EQ(1, cio_stream_read(a, buf, 1)); /* "ello\n" stays buffered */
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(a, ccfg, name));
    EXPECT_TRUE(strlen(cio_tls_last_error()) > 0);
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(a, ins, name));
    EXPECT_EQ(5, cio_stream_read_exactly(a, buf, 5));
    EXPECT_TRUE(memcmp(buf, "ello\n", 5) == 0);
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    cio_tls_config_free(ccfg);
    cio_tls_config_free(ins);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(over_long_server_name)
{
    RUN(long_name_main, NULL);
}

/* ---- A transport's STARTTLS against a peer that then stalls ------------ */

struct tst {
    cio_tls_config *cfg;
    cio_future *hs;
    int lost, lost_err;
};

static void tst_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)d, (void)len;
    struct tst *k = ctx;
    if (!k->hs)
        EXPECT_OK(cio_transport_start_tls(t, k->cfg, NULL, &k->hs));
}

static void tst_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct tst *k = ctx;
    k->lost++;
    k->lost_err = err;
}

static const cio_protocol tst_proto = {.data_received = tst_data, .connection_lost = tst_lost};

/* The peer asks for STARTTLS and then sends nothing: handshake_timeout
 * ends the transport's handshake (its timer starts with start_tls, not at
 * a socket event that never comes). Coverage; no defect found here. */
static int tst_stall_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.handshake_timeout = 0.2));
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    struct tst k = {.cfg = scfg};
    cio_transport *t;
    EXPECT_OK(cio_transport_new(cio_current_loop(), fds[1], NULL, &tst_proto, &k, &t));
    cio_stream *c;
    EXPECT_OK(cio_stream_new(fds[0], NULL, &c));
    EXPECT_OK(cio_stream_write(c, "STARTTLS\n", 9));
    for (int i = 0; i < 100000 && !k.hs; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_TRUE(k.hs != NULL);
    cio_scope s2;
    EXPECT_OK(cio_timeout_begin(&s2, 20)); /* far beyond the 0.2 s */
    int rc = cio_await(k.hs, NULL);
    cio_scope_end(&s2);
    EXPECT_ERR(-ETIMEDOUT, rc);
    cio_future_unref(k.hs);
    for (int i = 0; i < 100000 && !k.lost; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(1, k.lost);
    EXPECT_EQ(-ETIMEDOUT, k.lost_err);
    EXPECT_OK(cio_stream_close(c));
    cio_tls_config_free(scfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(transport_starttls_stalling_peer)
{
    RUN(tst_stall_main, NULL);
}

/* ---- ca_dir is checked like ca_file --------------------------------------- */

/* A missing ca_dir was taken silently (OpenSSL looks into it only when it
 * verifies), so every verification failed later with "unable to get local
 * issuer certificate" instead of cio_tls_config_new saying -ENOENT. */
TEST(ca_dir_checked)
{
    cio_tls_config *cfg = (cio_tls_config *)1;
    EXPECT_ERR(-ENOENT, cio_tls_config_new(&CIO_TLS_OPTIONS(.ca_dir = "/nonexistent/cio-ca"), &cfg));
    EXPECT_TRUE(cfg == NULL);
    EXPECT_TRUE(strstr(cio_tls_last_error(), "/nonexistent/cio-ca") != NULL);
    EXPECT_ERR(-ENOENT, cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true,
                                                            .cert_file = tls_path("server.pem"),
                                                            .key_file = tls_path("server.key"),
                                                            .client_cert = CIO_TLS_CLIENT_CERT_REQUIRED,
                                                            .ca_dir = "/nonexistent/cio-ca"),
                                           &cfg));
    /* an existing directory is fine */
    EXPECT_OK(cio_tls_config_new(&CIO_TLS_OPTIONS(.ca_dir = tls_path("")), &cfg));
    cio_tls_config_free(cfg);
}

/* ---- Renegotiation is refused (a real openssl s_client, TLS 1.2) ------- */

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/ssl.h>

struct reneg {
    int got_hello;
    int done;
    long renegs;
    ssize_t last;
};

static int reneg_handler(cio_stream *s, void *arg)
{
    struct reneg *k = arg;
    char buf[256];
    ssize_t n;
    while ((n = cio_stream_read(s, buf, sizeof buf)) > 0) {
        if (n >= 5 && memcmp(buf, "hello", 5) == 0)
            k->got_hello = 1;
        if (cio_stream_write(s, buf, (size_t)n))
            break;
    }
    k->last = n;
    k->renegs = SSL_total_renegotiations(cio_stream_ssl(s));
    k->done = 1;
    return 0;
}

static int reneg_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.max_version = CIO_TLS_1_2));
    struct reneg k = {0};
    cio_server *srv;
    cio_addr a = tls_loopback(), sa;
    EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = scfg)),
                             reneg_handler, &k, &srv));
    EXPECT_OK(cio_server_addr(srv, &sa));
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%u", (unsigned)ntohs(sa.u.in4.sin_port));
    int in[2];
    EXPECT_EQ(0, pipe(in));
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        close(in[0]);
        close(in[1]);
        execlp("openssl", "openssl", "s_client", "-connect", hp, "-tls1_2", "-noservername",
               (char *)NULL);
        _exit(127);
    }
    EXPECT_TRUE(pid > 0);
    close(in[0]);
    EXPECT_EQ(6, write(in[1], "hello\n", 6));
    for (int i = 0; i < 30000 && !k.got_hello && !k.done; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_TRUE(k.got_hello);
    EXPECT_EQ(2, write(in[1], "R\n", 2)); /* s_client: SSL_renegotiate */
    EXPECT_EQ(6, write(in[1], "after\n", 6));
    close(in[1]); /* s_client ends at the end of its input */
    for (int i = 0; i < 30000 && !k.done; i++)
        EXPECT_OK(cio_sleep(0.001));
    kill(pid, SIGKILL);
    int st;
    EXPECT_EQ(pid, waitpid(pid, &st, 0));
    EXPECT_TRUE(k.done);
    EXPECT_EQ(0, k.renegs);
    EXPECT_OK(cio_server_close(srv, 10));
    cio_tls_config_free(scfg);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(renegotiation_refused_s_client)
{
    RUN(reneg_main, NULL);
}

int main(int argc, char **argv)
{
    tls_make_certs();
    return test_main(argc, argv);
}
