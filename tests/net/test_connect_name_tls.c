/* Connecting by name with TLS: cio_stream_connect_name and
 * cio_transport_connect_name with opts->tls to a cio TLS server on
 * loopback. The certificates are made at start by tls-certs.sh (openssl
 * command line) in a temporary directory: server.pem is for DNS:localhost,
 * IP:127.0.0.1 and IP:::1, sni.pem for alt.test. The name verified is
 * opts->server_name, else the host; a wrong one is -EKEYREJECTED. Happy
 * Eyeballs then TLS: a dnsmasq of the test's answers he.test with AAAA ::1
 * (a blackhole: a listener whose full accept queue drops SYNs) and A
 * 127.0.0.1 (the TLS server). The task's deadline covers the handshake;
 * the session cache keys on the name and the port. */
#include <math.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <cio/dns.h>

#include "net/dnsmasq_util.h"
#include "net/test_tls_util.h"
#include "net/blackhole_util.h"

/* ---- a TLS echo server of cio's ------------------------------------------------- */

struct srv {
    cio_server *srv;
    cio_addr addr;
    int handled;
    char sni[64];
};

static int name_echo_handler(cio_stream *s, void *arg)
{
    struct srv *e = arg;
    e->handled++;
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    snprintf(e->sni, sizeof e->sni, "%s", inf.server_name ? inf.server_name : "");
    char buf[256];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return n < 0 ? (int)n : 0;
        int rc = cio_stream_write(s, buf, (size_t)n);
        if (rc)
            return rc;
    }
}

/* On lfd (adopted) or a new 127.0.0.1 listener (lfd < 0). */
static void srv_start(struct srv *e, cio_tls_config *cfg, int lfd)
{
    memset(e, 0, sizeof *e);
    cio_addr a = tls_loopback();
    EXPECT_OK(cio_server_new(lfd >= 0 ? NULL : &a,
                             &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = cfg),
                                                 .fd = lfd >= 0 ? &lfd : NULL),
                             name_echo_handler, e, &e->srv));
    EXPECT_OK(cio_server_addr(e->srv, &e->addr));
}

static void srv_stop(struct srv *e) { EXPECT_OK(cio_server_close(e->srv, 5)); }

static void echo_check(cio_stream *s)
{
    EXPECT_OK(cio_stream_write(s, "hello\n", 6));
    char buf[16];
    EXPECT_EQ(6, cio_stream_read_line(s, buf, sizeof buf));
    EXPECT_TRUE(memcmp(buf, "hello\n", 6) == 0);
}

/* A resolver whose only server is a dnsmasq of the test's: /etc/hosts
 * answers "localhost", nothing outside is ever asked. */
struct names {
    struct test_dnsmasq d;
    cio_resolver *r;
};

static void names_open(struct names *n)
{
    memset(n, 0, sizeof *n);
    static const char *const recs[] = {"--host-record=he.test,127.0.0.1,::1", NULL};
    test_dnsmasq_start(&n->d, recs);
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = n->d.servers, .search = ""),
                               &n->r));
    cio_addr one; /* the resolver's socket, before the cases' baselines */
    EXPECT_EQ(1, cio_dns_resolve(n->r, "he.test", 80, AF_INET, &one, 1));
}

static void names_close(struct names *n)
{
    cio_resolver_free(n->r);
    test_dnsmasq_stop(&n->d);
}

static void run(cio_task_fn fn, void *arg)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(fn, arg, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- cases ------------------------------------------------------------------------ */

/* "localhost" (from /etc/hosts), verified as localhost; a numeric host,
 * verified against the certificate's IP address. */
static int basic_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    struct names n;
    names_open(&n);
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct srv e;
    srv_start(&e, scfg, -1);
    uint16_t port = cio_addr_port(&e.addr);
    cio_stream *s = NULL;
    EXPECT_OK(cio_stream_connect_name("localhost", port,
                                      &CIO_SOCKET_OPTIONS(.resolver = n.r, .family = AF_INET),
                                      &CIO_STREAM_OPTIONS(.tls = ccfg), &s));
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    EXPECT_TRUE(inf.peer_verified);
    EXPECT_STR_EQ("localhost", inf.server_name);
    echo_check(s);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_STR_EQ("localhost", e.sni);

    EXPECT_OK(cio_stream_connect_name("127.0.0.1", port, NULL, &CIO_STREAM_OPTIONS(.tls = ccfg),
                                      &s));
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    EXPECT_TRUE(inf.peer_verified);
    echo_check(s);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_EQ(2, e.handled);
    srv_stop(&e);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    names_close(&n);
    EXPECT_OK(cio_scope_end(&to));
    return 0;
}

TEST(tls_by_name_verified) { run(basic_main, NULL); }

/* A name the certificate does not carry: -EKEYREJECTED, nothing left
 * open. Both ways: server_name set to another name, and the server's
 * certificate for another name. */
static int wrong_name_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    struct names n;
    names_open(&n);
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ocfg = tls_server_cfg(
        CIO_TLS_OPTIONS(.cert_file = tls_path("sni.pem"), .key_file = tls_path("sni.key")));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct srv e, o;
    srv_start(&e, scfg, -1);
    srv_start(&o, ocfg, -1);
    int base = test_fd_count();
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-EKEYREJECTED,
               cio_stream_connect_name(
                   "localhost", cio_addr_port(&e.addr),
                   &CIO_SOCKET_OPTIONS(.resolver = n.r, .family = AF_INET),
                   &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "alt.test"), &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_TRUE(strlen(cio_tls_last_error()) > 0);
    EXPECT_ERR(-EKEYREJECTED,
               cio_stream_connect_name("localhost", cio_addr_port(&o.addr),
                                       &CIO_SOCKET_OPTIONS(.resolver = n.r, .family = AF_INET),
                                       &CIO_STREAM_OPTIONS(.tls = ccfg), &s));
    /* The server's side of the failed handshakes goes too. */
    for (int i = 0; i < 10000 && test_fd_count() != base; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(base, test_fd_count());
    /* And server_name naming what the certificate holds works. */
    EXPECT_OK(cio_stream_connect_name(
        "localhost", cio_addr_port(&o.addr),
        &CIO_SOCKET_OPTIONS(.resolver = n.r, .family = AF_INET),
        &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "alt.test"), &s));
    echo_check(s);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_STR_EQ("alt.test", o.sni);
    srv_stop(&e);
    srv_stop(&o);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ocfg);
    cio_tls_config_free(ccfg);
    names_close(&n);
    EXPECT_OK(cio_scope_end(&to));
    return 0;
}

TEST(tls_wrong_name_rejected) { run(wrong_name_main, NULL); }

/* Happy Eyeballs, then TLS: he.test's ::1 is a blackhole, its 127.0.0.1
 * the TLS server; the certificate is verified as localhost (server_name),
 * and as he.test (the host, not in the certificate) it is rejected. */
static int he_tls_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    struct names n;
    names_open(&n);
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct blackhole bh;
    cio_addr raddr;
    int lfd = -1;
    for (int i = 0; i < 50 && lfd < 0; i++) {
        lfd = listen_on("127.0.0.1", 0, 16, &raddr);
        EXPECT_TRUE(lfd >= 0);
        if (!blackhole_open(&bh, "::1", cio_addr_port(&raddr))) {
            close(lfd);
            lfd = -1;
        }
    }
    EXPECT_TRUE(lfd >= 0);
    struct srv e;
    srv_start(&e, scfg, lfd);
    uint16_t port = cio_addr_port(&raddr);
    cio_stream *s = NULL;
    EXPECT_OK(cio_stream_connect_name(
        "he.test", port, &CIO_SOCKET_OPTIONS(.resolver = n.r, .attempt_delay = 0.01),
        &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "localhost"), &s));
    cio_addr peer;
    EXPECT_OK(cio_socket_peer(cio_stream_fd(s), &peer));
    EXPECT_TRUE(cio_addr_is_equal(&raddr, &peer));
    echo_check(s);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_EQ(1, e.handled);
    s = (cio_stream *)&s;
    EXPECT_ERR(-EKEYREJECTED,
               cio_stream_connect_name("he.test", port,
                                       &CIO_SOCKET_OPTIONS(.resolver = n.r, .attempt_delay = 0.01),
                                       &CIO_STREAM_OPTIONS(.tls = ccfg), &s));
    EXPECT_TRUE(s == NULL);
    srv_stop(&e);
    blackhole_untouched(&bh); /* nothing of ours got there */
    blackhole_close(&bh);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    names_close(&n);
    EXPECT_OK(cio_scope_end(&to));
    return 0;
}

TEST(tls_after_happy_eyeballs) { run(he_tls_main, NULL); }

/* The session cache keys on the name verified and the port: a second
 * connection to the same name and port resumes, another port or another
 * name does not. TLS 1.3 tickets come after the handshake: a round trip
 * makes sure they arrived. */
static bool connect_resumed(const char *host, uint16_t port, cio_resolver *r,
                            cio_tls_config *ccfg)
{
    cio_stream *s = NULL;
    EXPECT_OK(cio_stream_connect_name(host, port,
                                      &CIO_SOCKET_OPTIONS(.resolver = r, .family = AF_INET),
                                      &CIO_STREAM_OPTIONS(.tls = ccfg), &s));
    cio_tls_info inf;
    EXPECT_OK(cio_stream_tls_info(s, &inf));
    echo_check(s);
    EXPECT_OK(cio_stream_close(s));
    return inf.resumed;
}

static int resume_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    struct names n;
    names_open(&n);
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct srv a, b;
    srv_start(&a, scfg, -1);
    srv_start(&b, scfg, -1);
    uint16_t pa = cio_addr_port(&a.addr), pb = cio_addr_port(&b.addr);
    EXPECT_FALSE(connect_resumed("localhost", pa, n.r, ccfg));
    EXPECT_TRUE(connect_resumed("localhost", pa, n.r, ccfg));
    EXPECT_FALSE(connect_resumed("localhost", pb, n.r, ccfg));
    EXPECT_FALSE(connect_resumed("127.0.0.1", pa, n.r, ccfg));
    EXPECT_TRUE(connect_resumed("127.0.0.1", pa, n.r, ccfg));
    srv_stop(&a);
    srv_stop(&b);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    names_close(&n);
    EXPECT_OK(cio_scope_end(&to));
    return 0;
}

TEST(tls_session_keyed_by_name_and_port) { run(resume_main, NULL); }

/* The task's deadline covers the handshake: a peer that accepts and never
 * answers the ClientHello. */
static int deadline_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    cio_addr a;
    int lfd = listen_on("127.0.0.1", 0, 16, &a);
    int base = test_fd_count();
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 0.3));
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-ETIMEDOUT, cio_stream_connect_name("127.0.0.1", cio_addr_port(&a), NULL,
                                                   &CIO_STREAM_OPTIONS(.tls = ccfg), &s));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&to));
    EXPECT_TRUE(s == NULL);
    EXPECT_EQ(base, test_fd_count());
    /* The connection was made (and the ClientHello sent): it is in the
     * listener's queue. */
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    EXPECT_TRUE(fd >= 0);
    close(fd);
    close(lfd);
    cio_tls_config_free(ccfg);
    return 0;
}

TEST(tls_deadline_covers_handshake) { run(deadline_main, NULL); }

/* The callback form: connection_made after the handshake, with the TLS
 * session's facts; a wrong name fails the future, with no callback. */
struct tp {
    cio_event *lost;
    int nmade, nlost, lost_err;
    bool verified;
    char got[16];
    size_t ngot;
};

static int tp_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct tp *p = arg;
    p->nmade++;
    cio_tls_info inf;
    EXPECT_OK(cio_transport_tls_info(t, &inf));
    p->verified = inf.peer_verified;
    return cio_transport_write(t, "ping\n", 5);
}

static void tp_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct tp *p = ctx;
    EXPECT_TRUE(p->ngot + len <= sizeof p->got);
    memcpy(p->got + p->ngot, data, len);
    p->ngot += len;
    if (p->ngot == 5)
        cio_transport_close(t);
}

static void tp_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    struct tp *p = ctx;
    p->nlost++;
    p->lost_err = error;
    cio_event_set(p->lost);
}

static const cio_protocol tp_proto = {
    .connection_made = tp_made, .data_received = tp_data, .connection_lost = tp_lost};

static int transport_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    cio_loop *loop = cio_current_loop();
    struct names n;
    names_open(&n);
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS());
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS());
    struct srv e;
    srv_start(&e, scfg, -1);
    struct tp p = {0};
    EXPECT_OK(cio_event_new(&p.lost));
    cio_future *f;
    /* The attempt holds its own reference on the configuration: the
     * caller's may go at once. */
    cio_tls_config *once = tls_client_cfg(CIO_TLS_OPTIONS());
    EXPECT_OK(cio_transport_connect_name(
        loop, "localhost", cio_addr_port(&e.addr),
        &CIO_SOCKET_OPTIONS(.resolver = n.r, .family = AF_INET), &CIO_STREAM_OPTIONS(.tls = once),
        &tp_proto, &p, &f));
    cio_tls_config_free(once);
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ(1, p.nmade);
    EXPECT_TRUE(p.verified);
    EXPECT_OK(cio_event_wait(p.lost));
    EXPECT_OK(p.lost_err);
    EXPECT_TRUE(memcmp(p.got, "ping\n", 5) == 0);

    EXPECT_OK(cio_transport_connect_name(
        loop, "localhost", cio_addr_port(&e.addr),
        &CIO_SOCKET_OPTIONS(.resolver = n.r, .family = AF_INET),
        &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "nope.test"), &tp_proto, &p, &f));
    EXPECT_ERR(-EKEYREJECTED, cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ(1, p.nmade);
    EXPECT_EQ(1, p.nlost);
    EXPECT_OK(cio_event_free(p.lost));
    srv_stop(&e);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    names_close(&n);
    EXPECT_OK(cio_scope_end(&to));
    return 0;
}

TEST(tls_transport_by_name) { run(transport_main, NULL); }

int main(int argc, char **argv)
{
    tls_make_certs();
    return test_main(argc, argv);
}
