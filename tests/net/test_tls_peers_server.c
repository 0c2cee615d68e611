/* cio's TLS server against real clients: `openssl s_client`, curl and
 * Python's ssl module, each started by the case (cio_process_run, inside
 * the loop that runs the server) on the server's loopback port; the
 * certificates come from tests/net/tls-certs.sh (tests/net/tls_peers.h).
 *
 * The handler answers a first line "bulk N" by echoing N bytes; "echo" by
 * echoing lines until the stream ends (recording how it ended); an HTTP
 * request (for curl) with a minimal HTTP/1.1 response; any other line with
 * "hello <version> sni=<name> alpn=<proto> resumed=<0|1> verified=<0|1>"
 * and the line itself; then it returns (the server closes the stream). It
 * also records what cio_stream_tls_info said, which the case checks.
 *
 * Covered: stream and protocol servers (cio_server_new and
 * cio_server_new_protocol with opts->stream->tls), SNI (a second
 * certificate by name and by wildcard; the first for unknown names), ALPN
 * (the server's preference; nothing in common fails the handshake),
 * client certificates (required, optional), resumption with tickets (TLS
 * 1.3 and 1.2; none with no_tickets), TLS 1.2 forced, key updates from
 * the client (asked of the server and not), renegotiation refused, curl
 * over IPv4 and IPv6 (resuming its second connection), Python clients (a
 * line, 1 MiB in
 * 64 KiB steps, a client certificate), STARTTLS with the command and the
 * ClientHello in one segment, and peers that stall mid-handshake (cut off
 * by handshake_timeout; the connection count returns to 0). */
#include "net/tls_peers.h"

static void strict_reports(void)
{
    cio_loop_set_report_handler(cio_current_loop(), test_fail_on_report, NULL);
}

#define EXPECT_CONTAINS(hay, needle)                                                              \
    do {                                                                                          \
        const char *h_ = (hay), *n_ = (needle);                                                   \
        if (!h_ || !strstr(h_, n_))                                                               \
            FAIL("expected \"%s\" in:\n%s", n_, h_ ? h_ : "(null)");                             \
    } while (0)
#define EXPECT_NOT_CONTAINS(hay, needle)                                                          \
    do {                                                                                          \
        const char *h_ = (hay), *n_ = (needle);                                                   \
        if (h_ && strstr(h_, n_))                                                                 \
            FAIL("did not expect \"%s\" in:\n%s", n_, h_);                                       \
    } while (0)

/* ---- the server side ---------------------------------------------------------- */

enum { MAX_SEEN = 8 };

struct seen {
    int version;
    bool resumed, verified;
    char sni[128], alpn[64];
};

struct srv {
    /* in */
    cio_tls_config *cfg;      /* the server's configuration */
    bool protocol;            /* cio_server_new_protocol */
    bool starttls;            /* plain server; the handler upgrades */
    const char *host;         /* NULL: 127.0.0.1 */
    void (*clients)(struct srv *v); /* runs the peers, in the server's loop */
    void *arg;
    /* out */
    uint16_t port;
    cio_server *server;
    int handled; /* connections that reached the handler / connection_made */
    int starttls_done; /* protocol STARTTLS: handshake futures that completed with 0 */
    int echo_end; /* how the "echo" mode's stream ended: 0 or an error */
    char echo_err[256];
    struct seen seen[MAX_SEEN];
};

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "(none)");
}

static void record(struct srv *v, const cio_tls_info *info)
{
    if (v->handled < MAX_SEEN) {
        struct seen *e = &v->seen[v->handled];
        e->version = info->version;
        e->resumed = info->resumed;
        e->verified = info->peer_verified;
        copy_str(e->sni, sizeof e->sni, info->server_name);
        copy_str(e->alpn, sizeof e->alpn, info->alpn);
    }
    v->handled++;
}

/* The bytes of the "big" answers: byte i of the body. */
static char big_byte(size_t i)
{
    return (char)((i * 7 + i / 1000) % 251);
}

enum { BIG = 4 << 20 };

static int hello_line(const cio_tls_info *info, char *buf, size_t len)
{
    return snprintf(buf, len, "hello %s sni=%s alpn=%s resumed=%d verified=%d\n",
                    info->version == CIO_TLS_1_3   ? "TLSv1.3"
                    : info->version == CIO_TLS_1_2 ? "TLSv1.2"
                                                   : "?",
                    info->server_name ? info->server_name : "(none)",
                    info->alpn ? info->alpn : "(none)", info->resumed, info->peer_verified);
}

static int handler(cio_stream *s, void *arg)
{
    struct srv *v = arg;
    if (v->starttls) {
        char cmd[64];
        ssize_t n = cio_stream_read_line(s, cmd, sizeof cmd);
        EXPECT_EQ(9, n);
        EXPECT_TRUE(memcmp(cmd, "STARTTLS\n", 9) == 0);
        EXPECT_ERR(-ENOTCONN, cio_stream_tls_info(s, &(cio_tls_info){0}));
        /* the answer is buffered, and goes out in the clear before TLS */
        EXPECT_OK(cio_stream_write(s, "220 go ahead\n", 13));
        int rc = cio_stream_start_tls(s, v->cfg, NULL);
        if (rc != 0)
            FAIL("cio_stream_start_tls: %s (%s)", cio_err_name(rc), cio_tls_last_error());
    }
    cio_tls_info info;
    EXPECT_OK(cio_stream_tls_info(s, &info));
    EXPECT_TRUE(cio_stream_ssl(s) != NULL);
    record(v, &info);
    char line[4096];
    ssize_t n = cio_stream_read_line(s, line, sizeof line - 1);
    if (n <= 0)
        return 0; /* a client that only handshakes */
    line[n] = 0;
    if (strcmp(line, "echo\n") == 0) {
        /* echo lines until the stream ends; how it ended is recorded */
        do {
            EXPECT_OK(cio_stream_write(s, line, (size_t)n));
            EXPECT_OK(cio_stream_drain(s));
            n = cio_stream_read_line(s, line, sizeof line - 1);
        } while (n > 0);
        v->echo_end = (int)n;
        copy_str(v->echo_err, sizeof v->echo_err, n < 0 ? cio_tls_last_error() : "");
        return 0;
    }
    if (strncmp(line, "big ", 4) == 0) {
        /* N bytes, then return at once: the server's close must send
         * them all (and then close_notify) */
        size_t want = (size_t)strtoul(line + 4, NULL, 10);
        char buf[65536];
        for (size_t off = 0; off < want; off += sizeof buf) {
            size_t k = want - off < sizeof buf ? want - off : sizeof buf;
            for (size_t i = 0; i < k; i++)
                buf[i] = big_byte(off + i);
            EXPECT_OK(cio_stream_write(s, buf, k));
        }
        return 0;
    }
    if (strncmp(line, "bulk ", 5) == 0) {
        size_t want = (size_t)strtoul(line + 5, NULL, 10), got = 0;
        char buf[16384];
        while (got < want) {
            ssize_t r = cio_stream_read(s, buf, sizeof buf);
            if (r <= 0)
                FAIL("bulk: read after %zu of %zu: %s", got, want, cio_err_name((int)r));
            EXPECT_OK(cio_stream_write(s, buf, (size_t)r));
            got += (size_t)r;
        }
        EXPECT_OK(cio_stream_drain(s));
        return 0;
    }
    char reply[512];
    int hn = hello_line(&info, reply, sizeof reply);
    if (strncmp(line, "GET ", 4) == 0) {
        /* an HTTP/1.1 request: the rest of its header, then the answer */
        char rest[4096];
        ssize_t r = cio_stream_read_until(s, "\r\n\r\n", 4, rest, sizeof rest);
        EXPECT_TRUE(r > 0);
        char head[256];
        bool big = strncmp(line, "GET /big ", 9) == 0;
        int k = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         "Connection: close\r\n\r\n",
                         big ? BIG : hn);
        EXPECT_OK(cio_stream_write(s, head, (size_t)k));
        if (big) {
            /* written in one call, and the handler returns at once: the
             * server's close flushes it */
            char *body = malloc(BIG);
            EXPECT_TRUE(body != NULL);
            for (size_t i = 0; i < BIG; i++)
                body[i] = big_byte(i);
            EXPECT_OK(cio_stream_write(s, body, BIG));
            free(body);
            return 0;
        }
        EXPECT_OK(cio_stream_write(s, reply, (size_t)hn));
    } else {
        EXPECT_OK(cio_stream_write(s, reply, (size_t)hn));
        EXPECT_OK(cio_stream_write(s, line, (size_t)n));
    }
    EXPECT_OK(cio_stream_drain(s));
    return 0;
}

/* The protocol style: the same for a one-line exchange. */
struct pconn {
    struct srv *v;
    cio_tls_info info;
    char line[512];
    size_t len;
};

static int p_made(cio_transport *t, void *arg, void **ctx)
{
    struct pconn *c = calloc(1, sizeof *c);
    EXPECT_TRUE(c != NULL);
    c->v = arg;
    EXPECT_OK(cio_transport_tls_info(t, &c->info));
    EXPECT_TRUE(cio_transport_ssl(t) != NULL);
    record(c->v, &c->info);
    *ctx = c;
    return 0;
}

static void p_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct pconn *c = ctx;
    const char *p = data;
    for (size_t i = 0; i < len && c->len < sizeof c->line - 1; i++) {
        c->line[c->len++] = p[i];
        if (p[i] == '\n') {
            if (strncmp(c->line, "big ", 4) == 0) {
                /* one write far over the high-water mark, then close:
                 * the transport sends it all first */
                c->line[c->len] = 0;
                size_t want = (size_t)strtoul(c->line + 4, NULL, 10);
                char *body = malloc(want);
                EXPECT_TRUE(body != NULL);
                for (size_t j = 0; j < want; j++)
                    body[j] = big_byte(j);
                EXPECT_OK(cio_transport_write(t, body, want));
                free(body);
                EXPECT_OK(cio_transport_close(t));
                return;
            }
            char reply[512];
            int hn = hello_line(&c->info, reply, sizeof reply);
            EXPECT_OK(cio_transport_write(t, reply, (size_t)hn));
            EXPECT_OK(cio_transport_write(t, c->line, c->len));
            EXPECT_OK(cio_transport_close(t));
            return;
        }
    }
}

static void p_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    (void)err;
    free(ctx);
}

static const cio_protocol p_proto = {
    .connection_made = p_made, .data_received = p_data, .connection_lost = p_lost};

/* STARTTLS in the protocol style: the command in the clear, the answer
 * written before cio_transport_start_tls (so it goes in the clear), then
 * one line over TLS answered as above. */
struct sconn {
    struct srv *v;
    cio_future *hs;
    char line[512];
    size_t len;
};

static int s_made(cio_transport *t, void *arg, void **ctx)
{
    struct sconn *c = calloc(1, sizeof *c);
    EXPECT_TRUE(c != NULL);
    c->v = arg;
    EXPECT_ERR(-ENOTCONN, cio_transport_tls_info(t, &(cio_tls_info){0}));
    EXPECT_TRUE(cio_transport_ssl(t) == NULL);
    *ctx = c;
    return 0;
}

static void s_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct sconn *c = ctx;
    if (!c->hs) {
        /* the client waited for our answer: the chunk is the command */
        EXPECT_EQ(9, len);
        EXPECT_TRUE(memcmp(data, "STARTTLS\n", 9) == 0);
        EXPECT_OK(cio_transport_write(t, "220 go ahead\n", 13));
        EXPECT_OK(cio_transport_start_tls(t, c->v->cfg, NULL, &c->hs));
        return;
    }
    /* data after the handshake only */
    EXPECT_TRUE(cio_future_is_done(c->hs));
    const char *p = data;
    for (size_t i = 0; i < len && c->len < sizeof c->line - 1; i++) {
        c->line[c->len++] = p[i];
        if (p[i] == '\n') {
            cio_tls_info info;
            EXPECT_OK(cio_transport_tls_info(t, &info));
            record(c->v, &info);
            char reply[512];
            int hn = hello_line(&info, reply, sizeof reply);
            EXPECT_OK(cio_transport_write(t, reply, (size_t)hn));
            EXPECT_OK(cio_transport_write(t, c->line, c->len));
            EXPECT_OK(cio_transport_close(t));
            return;
        }
    }
}

static void s_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct sconn *c = ctx;
    EXPECT_OK(err);
    if (c->hs) {
        if (cio_future_is_done(c->hs) && cio_future_result(c->hs, NULL) == 0)
            c->v->starttls_done++;
        cio_future_unref(c->hs);
    }
    free(c);
}

static const cio_protocol s_proto = {
    .connection_made = s_made, .data_received = s_data, .connection_lost = s_lost};

/* Waits (bounded by the case's scope) until the server has no connection. */
static void wait_idle(struct srv *v)
{
    for (int i = 0; i < 600000 && cio_server_connections(v->server) != 0; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(0, cio_server_connections(v->server));
}

static int server_main(void *arg, void **res)
{
    (void)res;
    struct srv *v = arg;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 120));
    cio_addr a;
    EXPECT_OK(cio_addr_ip(v->host ? v->host : "127.0.0.1", 0, &a));
    cio_stream_options so = CIO_STREAM_OPTIONS(.tls = v->starttls ? NULL : v->cfg);
    cio_server_options o = CIO_SERVER_OPTIONS(.stream = &so, .name = "tls");
    if (v->protocol)
        EXPECT_OK(cio_server_new_protocol(&a, &o, v->starttls ? &s_proto : &p_proto, v,
                                          &v->server));
    else
        EXPECT_OK(cio_server_new(&a, &o, handler, v, &v->server));
    cio_addr at;
    EXPECT_OK(cio_server_addr(v->server, &at));
    v->port = cio_addr_port(&at);
    v->clients(v);
    wait_idle(v);
    EXPECT_OK(cio_server_close(v->server, 5));
    v->server = NULL;
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

/* Runs the server with v->clients, checking descriptors. */
static void run_server(struct srv *v)
{
    int fds = test_fd_baseline();
    EXPECT_OK(cio_run(server_main, v, NULL));
    if (fds != test_fd_count())
        FAIL("descriptors: %d before, %d after", fds, test_fd_count());
}

/* ---- openssl s_client ------------------------------------------------------------ */

/* openssl s_client to the server, verifying "localhost" against the test
 * CA, with extra arguments; sends input. */
static tp_run s_client(struct srv *v, const char *input, const char *const *extra)
{
    char connect[64];
    snprintf(connect, sizeof connect, "%s:%u", v->host ? v->host : "127.0.0.1",
             (unsigned)v->port);
    const char *argv[40] = {"openssl", "s_client", "-connect", connect, "-CAfile",
                            tp_path("ca.pem"), "-verify_return_error", "-ign_eof"};
    int n = 8;
    for (int i = 0; extra && extra[i] && n < 39; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return tp_run_peer(argv, input);
}

#define EXPECT_RUN_OK(r)                                                                          \
    do {                                                                                          \
        if ((r).status != 0)                                                                      \
            FAIL("the peer exited with %d:\n%s", (r).status, (r).out);                           \
    } while (0)
#define EXPECT_RUN_FAILED(r)                                                                      \
    do {                                                                                          \
        if ((r).status == 0)                                                                      \
            FAIL("the peer succeeded:\n%s", (r).out);                                            \
    } while (0)

static const char *const verify_localhost[] = {"-servername", "localhost", "-verify_hostname",
                                               "localhost", NULL};

static void basic_clients(struct srv *v)
{
    tp_run r = s_client(v, "ping from s_client\n", verify_localhost);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "Verification: OK");
    EXPECT_CONTAINS(r.out, "Verify return code: 0 (ok)");
    EXPECT_CONTAINS(r.out, "New, TLSv1.3, Cipher is ");
    EXPECT_CONTAINS(r.out,
                    "hello TLSv1.3 sni=localhost alpn=(none) resumed=0 verified=0\n"
                    "ping from s_client\n");
    free(r.out);
}

TEST(s_client_stream_server)
{
    struct srv v = {.cfg = TP_SERVER("server"), .clients = basic_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    EXPECT_EQ(CIO_TLS_1_3, v.seen[0].version);
    EXPECT_STR_EQ("localhost", v.seen[0].sni);
    cio_tls_config_free(v.cfg);
}

TEST(s_client_protocol_server)
{
    struct srv v = {.cfg = TP_SERVER("server"), .protocol = true, .clients = basic_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    EXPECT_STR_EQ("localhost", v.seen[0].sni);
    cio_tls_config_free(v.cfg);
}

/* SNI: the second certificate for its names (and its wildcard), the first
 * for any other name and for none. */
static void sni_clients(struct srv *v)
{
    const char *const alt[] = {"-servername", "alt.test", "-verify_hostname", "alt.test", NULL};
    tp_run r = s_client(v, "one\n", alt);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "subject=CN = alt.test");
    EXPECT_CONTAINS(r.out, "hello TLSv1.3 sni=alt.test ");
    free(r.out);
    const char *const wild[] = {"-servername", "x.wild.test", "-verify_hostname", "x.wild.test",
                                NULL};
    r = s_client(v, "two\n", wild);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "subject=CN = alt.test");
    EXPECT_CONTAINS(r.out, "hello TLSv1.3 sni=x.wild.test ");
    free(r.out);
    const char *const other[] = {"-servername", "unknown.example", NULL};
    r = s_client(v, "three\n", other);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "subject=CN = localhost");
    EXPECT_CONTAINS(r.out, "hello TLSv1.3 sni=unknown.example ");
    free(r.out);
    const char *const none[] = {"-noservername", NULL};
    r = s_client(v, "four\n", none);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "subject=CN = localhost");
    EXPECT_CONTAINS(r.out, "hello TLSv1.3 sni=(none) ");
    free(r.out);
}

TEST(sni_chooses_certificate)
{
    struct srv v = {.cfg = TP_SERVER("server"), .clients = sni_clients};
    EXPECT_OK(cio_tls_config_add_cert(v.cfg, tp_path("sni.pem"), tp_path("sni.key")));
    run_server(&v);
    EXPECT_EQ(4, v.handled);
    EXPECT_STR_EQ("alt.test", v.seen[0].sni);
    EXPECT_STR_EQ("x.wild.test", v.seen[1].sni);
    EXPECT_STR_EQ("unknown.example", v.seen[2].sni);
    EXPECT_STR_EQ("(none)", v.seen[3].sni);
    /* the configuration has been used: no more certificates */
    EXPECT_ERR(-EINVAL, cio_tls_config_add_cert(v.cfg, tp_path("sni.pem"), tp_path("sni.key")));
    cio_tls_config_free(v.cfg);
}

/* ALPN: the server's first protocol the client offers; none in common
 * fails the handshake (the client sees the alert), and no handler runs. */
static void alpn_clients(struct srv *v)
{
    const char *const a[] = {"-alpn", "http/1.1", NULL};
    tp_run r = s_client(v, "a\n", a);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "ALPN protocol: http/1.1");
    EXPECT_CONTAINS(r.out, " alpn=http/1.1 ");
    free(r.out);
    const char *const b[] = {"-alpn", "http/1.1,h2", NULL};
    r = s_client(v, "b\n", b);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "ALPN protocol: h2");
    free(r.out);
    const char *const c[] = {NULL};
    r = s_client(v, "c\n", c);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "No ALPN negotiated");
    EXPECT_CONTAINS(r.out, " alpn=(none) ");
    free(r.out);
    const char *const d[] = {"-alpn", "foo,bar", NULL};
    r = s_client(v, "d\n", d);
    EXPECT_RUN_FAILED(r);
    EXPECT_CONTAINS(r.out, "no application protocol");
    EXPECT_NOT_CONTAINS(r.out, "hello ");
    free(r.out);
}

TEST(alpn_chosen_by_server)
{
    struct srv v = {.cfg = TP_SERVER("server", .alpn = "h2,http/1.1"), .clients = alpn_clients};
    run_server(&v);
    EXPECT_EQ(3, v.handled);
    EXPECT_STR_EQ("http/1.1", v.seen[0].alpn);
    EXPECT_STR_EQ("h2", v.seen[1].alpn);
    EXPECT_STR_EQ("(none)", v.seen[2].alpn);
    cio_tls_config_free(v.cfg);
}

/* Client certificates. */

static void required_clients(struct srv *v)
{
    const char *const wc[] = {"-cert", tp_path("client.pem"), "-key", tp_path("client.key"),
                              NULL};
    tp_run r = s_client(v, "with\n", wc);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, " verified=1\nwith\n");
    free(r.out);
    /* without: TLS 1.3 lets the client finish first; the server's alert
     * comes after, and the handler never runs */
    r = s_client(v, "without\n", NULL);
    EXPECT_CONTAINS(r.out, "certificate required");
    EXPECT_NOT_CONTAINS(r.out, "hello ");
    free(r.out);
    const char *const tls12[] = {"-tls1_2", NULL};
    r = s_client(v, "without 1.2\n", tls12);
    EXPECT_RUN_FAILED(r);
    EXPECT_NOT_CONTAINS(r.out, "hello ");
    free(r.out);
}

TEST(client_certificate_required)
{
    struct srv v = {.cfg = TP_SERVER("server", .client_cert = CIO_TLS_CLIENT_CERT_REQUIRED,
                                     .ca_file = tp_path("ca.pem")),
                    .clients = required_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    EXPECT_TRUE(v.seen[0].verified);
    cio_tls_config_free(v.cfg);
}

static void optional_clients(struct srv *v)
{
    tp_run r = s_client(v, "without\n", NULL);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, " verified=0\nwithout\n");
    free(r.out);
    const char *const wc[] = {"-cert", tp_path("client.pem"), "-key", tp_path("client.key"),
                              NULL};
    r = s_client(v, "with\n", wc);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, " verified=1\nwith\n");
    free(r.out);
}

TEST(client_certificate_optional)
{
    struct srv v = {.cfg = TP_SERVER("server", .client_cert = CIO_TLS_CLIENT_CERT_OPTIONAL,
                                     .ca_file = tp_path("ca.pem")),
                    .clients = optional_clients};
    run_server(&v);
    EXPECT_EQ(2, v.handled);
    EXPECT_FALSE(v.seen[0].verified);
    EXPECT_TRUE(v.seen[1].verified);
    cio_tls_config_free(v.cfg);
}

/* Resumption: s_client -sess_out, then -sess_in: "Reused". */
struct resume_arg {
    const char *version_flag; /* NULL or "-tls1_2" */
    const char *vname;
    bool expect_reused;
};

static void resume_clients(struct srv *v)
{
    struct resume_arg *ra = v->arg;
    const char *sess = tp_path("session.pem");
    unlink(sess);
    const char *const out[] = {"-sess_out", sess, ra->version_flag, NULL};
    tp_run r = s_client(v, "first\n", out);
    EXPECT_RUN_OK(r);
    char want[64];
    snprintf(want, sizeof want, "New, %s, Cipher is ", ra->vname);
    EXPECT_CONTAINS(r.out, want);
    free(r.out);
    if (!ra->expect_reused) {
        /* TLS 1.3 without tickets: nothing to resume, s_client saved none */
        if (access(sess, F_OK) == 0)
            FAIL("s_client saved a session: the server issued a ticket");
        return;
    }
    const char *const in[] = {"-sess_in", sess, ra->version_flag, NULL};
    r = s_client(v, "second\n", in);
    EXPECT_RUN_OK(r);
    snprintf(want, sizeof want, "%s, %s, Cipher is ", ra->expect_reused ? "Reused" : "New",
             ra->vname);
    EXPECT_CONTAINS(r.out, want);
    EXPECT_CONTAINS(r.out, ra->expect_reused ? " resumed=1 " : " resumed=0 ");
    free(r.out);
    unlink(sess);
}

static void resume_case(const char *flag, const char *vname, bool no_tickets)
{
    struct resume_arg ra = {flag, vname, !no_tickets};
    struct srv v = {.cfg = TP_SERVER("server", .no_tickets = no_tickets),
                    .clients = resume_clients, .arg = &ra};
    run_server(&v);
    EXPECT_EQ(no_tickets ? 1 : 2, v.handled);
    EXPECT_FALSE(v.seen[0].resumed);
    EXPECT_EQ(flag ? CIO_TLS_1_2 : CIO_TLS_1_3, v.seen[0].version);
    if (!no_tickets) {
        EXPECT_TRUE(v.seen[1].resumed);
        EXPECT_EQ(flag ? CIO_TLS_1_2 : CIO_TLS_1_3, v.seen[1].version);
    }
    cio_tls_config_free(v.cfg);
}

TEST(session_resumed_tls13) { resume_case(NULL, "TLSv1.3", false); }
TEST(session_resumed_tls12) { resume_case("-tls1_2", "TLSv1.2", false); }
TEST(session_not_resumed_without_tickets) { resume_case(NULL, "TLSv1.3", true); }

/* TLS 1.2 forced by the server's max_version; a client that wants only
 * 1.3 is refused. */
static void v12_clients(struct srv *v)
{
    tp_run r = s_client(v, "twelve\n", NULL);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "New, TLSv1.2, Cipher is ");
    EXPECT_CONTAINS(r.out, "hello TLSv1.2 ");
    free(r.out);
    const char *const only13[] = {"-tls1_3", NULL};
    r = s_client(v, "thirteen\n", only13);
    EXPECT_RUN_FAILED(r);
    EXPECT_NOT_CONTAINS(r.out, "hello ");
    free(r.out);
}

TEST(tls12_forced)
{
    struct srv v = {.cfg = TP_SERVER("server", .max_version = CIO_TLS_1_2), .clients = v12_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    EXPECT_EQ(CIO_TLS_1_2, v.seen[0].version);
    cio_tls_config_free(v.cfg);
}

/* ---- key updates and renegotiation (s_client driven line by line) ------------- */

/* s_client with its stdin and stdout as pipes of this loop: a line "K"
 * (or "k") on its stdin makes it send a KeyUpdate asking the server to
 * update too (or not), and prints KEYUPDATE; "R" asks for a renegotiation
 * (TLS 1.2) and prints RENEGOTIATING. */
struct sc {
    cio_process *p;
    cio_stream *in, *out;
    char rest[8192]; /* what it printed after the last sc_expect (sc_finish) */
    size_t rest_len;
};

static void sc_start(struct sc *c, struct srv *v, const char *version_flag)
{
    char connect[64];
    snprintf(connect, sizeof connect, "127.0.0.1:%u", (unsigned)v->port);
    const char *argv[] = {"openssl", "s_client", "-connect", connect, "-CAfile",
                          tp_path("ca.pem"), "-verify_return_error", "-servername",
                          "localhost", version_flag, NULL};
    int rc = cio_process_new(argv,
                             &CIO_PROCESS_OPTIONS(.search_path = true,
                                                  .stdin_mode = CIO_PROCESS_PIPE,
                                                  .stdout_mode = CIO_PROCESS_PIPE,
                                                  .stderr_mode = CIO_PROCESS_STDOUT),
                             &c->p);
    if (rc != 0)
        FAIL("openssl s_client: %s", cio_err_name(rc));
    c->in = cio_process_stdin(c->p);
    c->out = cio_process_stdout(c->p);
}

static void sc_send(struct sc *c, const char *text)
{
    EXPECT_OK(cio_stream_write(c->in, text, strlen(text)));
    EXPECT_OK(cio_stream_drain(c->in));
}

/* Reads s_client's output up to a line starting with prefix. */
static void sc_expect(struct sc *c, const char *prefix)
{
    char line[4096];
    for (;;) {
        ssize_t n = cio_stream_read_line(c->out, line, sizeof line - 1);
        if (n <= 0)
            FAIL("s_client's output ended (%s) before a line \"%s\"", cio_err_name((int)n),
                 prefix);
        line[n] = 0;
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return;
    }
}

/* Closes s_client's stdin (it then closes the connection and exits) and
 * waits for it. */
static int sc_finish(struct sc *c)
{
    int rc = cio_stream_shutdown(c->in);
    if (rc != 0 && rc != -EPIPE) /* -EPIPE: it exited already */
        FAIL("closing s_client's stdin: %s", cio_err_name(rc));
    /* its output is read to the end, so that it never blocks on it */
    char buf[4096];
    ssize_t n;
    c->rest_len = 0;
    while ((n = cio_stream_read(c->out, buf, sizeof buf)) > 0) {
        size_t k = (size_t)n < sizeof c->rest - 1 - c->rest_len ? (size_t)n
                                                                : sizeof c->rest - 1 - c->rest_len;
        memcpy(c->rest + c->rest_len, buf, k);
        c->rest_len += k;
    }
    c->rest[c->rest_len] = 0;
    int st = -1;
    EXPECT_OK(cio_process_wait(c->p, &st));
    EXPECT_OK(cio_process_free(c->p));
    return st;
}

static void keyupdate_clients(struct srv *v)
{
    struct sc c;
    sc_start(&c, v, "-tls1_3");
    sc_send(&c, "echo\n");
    sc_expect(&c, "echo");
    const char *cmds[] = {"k\n", "K\n", "K\n", "k\n"};
    for (int i = 0; i < 4; i++) {
        sc_send(&c, cmds[i]);
        sc_expect(&c, "KEYUPDATE");
        char msg[32];
        snprintf(msg, sizeof msg, "after update %d\n", i);
        sc_send(&c, msg);
        sc_expect(&c, msg);
    }
    EXPECT_EQ(0, sc_finish(&c));
    wait_idle(v);
}

TEST(key_updates_from_client)
{
    struct srv v = {.cfg = TP_SERVER("server"), .clients = keyupdate_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    EXPECT_EQ(0, v.echo_end);
    cio_tls_config_free(v.cfg);
}

/* Renegotiation is refused (cio/tls.h): the client's attempt fails, on
 * both sides, and nothing hangs. */
static void renegotiate_clients(struct srv *v)
{
    struct sc c;
    sc_start(&c, v, "-tls1_2");
    sc_send(&c, "echo\n");
    sc_expect(&c, "echo");
    sc_send(&c, "R\n");
    sc_expect(&c, "RENEGOTIATING");
    /* s_client gets the server's refusal, gives up and exits by itself
     * (its stdin may be gone by the time sc_finish closes it) */
    sc_finish(&c);
    EXPECT_CONTAINS(c.rest, "no renegotiation");
    wait_idle(v);
}

TEST(renegotiation_refused)
{
    struct srv v = {.cfg = TP_SERVER("server"), .clients = renegotiate_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    /* the server answers the renegotiation's ClientHello with the
     * no_renegotiation warning; s_client gives up with a fatal alert,
     * which ends the handler's stream with -EPROTO */
    EXPECT_ERR(-EPROTO, v.echo_end);
    if (!strcasestr(v.echo_err, "alert"))
        FAIL("cio_tls_last_error(): \"%s\"", v.echo_err);
    cio_tls_config_free(v.cfg);
}

/* ---- curl ----------------------------------------------------------------------- */

static tp_run curl(struct srv *v, const char *url_host, const char *const *extra, int nurls)
{
    char url[128], resolve[128];
    snprintf(url, sizeof url, "https://%s:%u/hello", url_host, (unsigned)v->port);
    snprintf(resolve, sizeof resolve, "localhost:%u:127.0.0.1", (unsigned)v->port);
    const char *argv[32] = {"curl", "-sS", "--http1.1", "--max-time", "60", "--cacert",
                            tp_path("ca.pem"), "--resolve", resolve, "-w",
                            "\nstatus=%{http_code} verify=%{ssl_verify_result}\n"};
    int n = 11;
    for (int i = 0; extra && extra[i] && n < 28; i++)
        argv[n++] = extra[i];
    for (int i = 0; i < nurls; i++)
        argv[n++] = url;
    argv[n] = NULL;
    return tp_run_peer(argv, NULL);
}

/* Two requests in one curl run: Connection: close makes two connections,
 * and the second resumes curl's session. */
static void curl_clients(struct srv *v)
{
    tp_run r = curl(v, "localhost", NULL, 2);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "hello TLSv1.3 sni=localhost alpn=http/1.1 resumed=0 verified=0\n"
                           "\nstatus=200 verify=0\n");
    EXPECT_CONTAINS(r.out, "hello TLSv1.3 sni=localhost alpn=http/1.1 resumed=1 verified=0\n"
                           "\nstatus=200 verify=0\n");
    free(r.out);
    /* 4 MiB written at once by a handler that returns at once */
    const char *outf = tp_path("big.out");
    char url[128];
    snprintf(url, sizeof url, "https://localhost:%u/big", (unsigned)v->port);
    const char *const big[] = {"-o", outf, url, NULL};
    r = curl(v, "localhost", big, 0);
    EXPECT_RUN_OK(r);
    char want[64];
    snprintf(want, sizeof want, "status=200 verify=0");
    EXPECT_CONTAINS(r.out, want);
    free(r.out);
    FILE *fp = fopen(outf, "rb");
    EXPECT_TRUE(fp != NULL);
    char *body = malloc(BIG + 1);
    EXPECT_TRUE(body != NULL);
    size_t got = fread(body, 1, BIG + 1, fp);
    fclose(fp);
    EXPECT_EQ(BIG, got);
    for (size_t i = 0; i < got; i++)
        if (body[i] != big_byte(i))
            FAIL("curl's byte %zu differs", i);
    free(body);
    unlink(outf);
    /* TLS 1.2 */
    const char *const v12[] = {"--tls-max", "1.2", NULL};
    r = curl(v, "localhost", v12, 1);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "hello TLSv1.2 sni=localhost alpn=http/1.1 ");
    free(r.out);
    /* curl trusting only the system's store: it refuses us (exit 60) */
    const char *argv[] = {"curl", "-sS", "--http1.1", "--max-time", "60", "--resolve", NULL, NULL,
                          NULL};
    char resolve[128];
    snprintf(resolve, sizeof resolve, "localhost:%u:127.0.0.1", (unsigned)v->port);
    snprintf(url, sizeof url, "https://localhost:%u/", (unsigned)v->port);
    argv[6] = resolve;
    argv[7] = url;
    r = tp_run_peer(argv, NULL);
    /* 60: the certificate failed; 77: no system store to read at all */
    if (r.status != 60 && r.status != 77)
        FAIL("curl without the CA: exit %d:\n%s", r.status, r.out);
    EXPECT_NOT_CONTAINS(r.out, "hello ");
    free(r.out);
}

TEST(curl_https)
{
    TP_NEED(tp_have_curl, "curl");
    struct srv v = {.cfg = TP_SERVER("server", .alpn = "h2,http/1.1"), .clients = curl_clients};
    run_server(&v);
    EXPECT_EQ(4, v.handled);
    EXPECT_TRUE(v.seen[1].resumed);
    cio_tls_config_free(v.cfg);
}

static void curl6_clients(struct srv *v)
{
    tp_run r = curl(v, "[::1]", NULL, 1);
    EXPECT_RUN_OK(r);
    /* an address: no SNI */
    EXPECT_CONTAINS(r.out, "hello TLSv1.3 sni=(none) alpn=(none) resumed=0 verified=0\n"
                           "\nstatus=200 verify=0\n");
    free(r.out);
}

TEST(curl_https_ipv6)
{
    TP_NEED(tp_have_curl, "curl");
    int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool v6 = probe >= 0 && bind(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (probe >= 0)
        close(probe);
    if (!v6) {
        fprintf(stderr, "skipped: no IPv6 loopback\n");
        return;
    }
    struct srv v = {.cfg = TP_SERVER("server"), .host = "::1", .clients = curl6_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    cio_tls_config_free(v.cfg);
}

/* ---- Python's ssl module --------------------------------------------------------------- */

static const char py_client[] =
    "import socket, ssl, sys\n"
    "port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
    "ctx = ssl.create_default_context(cafile=ca)\n"
    "ctx.set_alpn_protocols(['x-unknown', 'http/1.1'])\n"
    "if mode == 'cert':\n"
    "    ctx.load_cert_chain(sys.argv[4], sys.argv[5])\n"
    "raw = socket.create_connection(('127.0.0.1', port), timeout=60)\n"
    "t = ctx.wrap_socket(raw, server_hostname='localhost', suppress_ragged_eofs=False)\n"
    "print('version', t.version(), 'alpn', t.selected_alpn_protocol(), flush=True)\n"
    "def recv_exactly(n):\n"
    "    b = b''\n"
    "    while len(b) < n:\n"
    "        d = t.recv(n - len(b))\n"
    "        if not d:\n"
    "            sys.exit('eof after %d of %d' % (len(b), n))\n"
    "        b += d\n"
    "    return b\n"
    "if mode == 'big':\n"
    "    n = int(sys.argv[4])\n"
    "    t.sendall(b'big %d\\n' % n)\n"
    "    b = bytearray()\n"
    "    while True:\n"
    "        d = t.recv(1 << 20)\n"
    "        if not d:\n"
    "            break\n"
    "        b += d\n"
    "    want = bytes((i * 7 + i // 1000) % 251 for i in range(n))\n"
    "    print('big ok' if bytes(b) == want else 'big differs', len(b), flush=True)\n"
    "elif mode == 'bulk':\n"
    "    step, steps = 65536, 16\n"
    "    t.sendall(b'bulk %d\\n' % (step * steps))\n"
    "    for i in range(steps):\n"
    "        chunk = bytes((i * 7 + j) % 256 for j in range(step))\n"
    "        t.sendall(chunk)\n"
    "        assert recv_exactly(step) == chunk, i\n"
    "    print('bulk ok', step * steps, flush=True)\n"
    "else:\n"
    "    t.sendall(b'ping from python\\n')\n"
    "    f = t.makefile('rb')\n"
    "    print(f.readline().decode().strip(), flush=True)\n"
    "    print(f.readline().decode().strip(), flush=True)\n"
    "    try:\n"
    "        print('eof', f.read() == b'', 'with close_notify', flush=True)\n"
    "    except ssl.SSLEOFError:\n"
    "        print('eof without close_notify', flush=True)\n"
    "t.close()\n";

static tp_run py(struct srv *v, const char *mode)
{
    char port[16], big[16];
    snprintf(port, sizeof port, "%u", (unsigned)v->port);
    snprintf(big, sizeof big, "%d", BIG);
    const char *argv[] = {"python3", "-c", py_client, port, tp_path("ca.pem"), mode,
                          strcmp(mode, "big") == 0 ? big : tp_path("client.pem"),
                          tp_path("client.key"), NULL};
    return tp_run_peer(argv, NULL);
}

/* A large answer written at once and closed at once, in both styles. */
static void big_clients(struct srv *v)
{
    tp_run r = py(v, "big");
    EXPECT_RUN_OK(r);
    char want[64];
    snprintf(want, sizeof want, "big ok %d\n", BIG);
    EXPECT_CONTAINS(r.out, want);
    free(r.out);
}

TEST(large_answer_then_close_stream_server)
{
    TP_NEED(tp_have_python, "python3 (with ssl)");
    struct srv v = {.cfg = TP_SERVER("server"), .clients = big_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    cio_tls_config_free(v.cfg);
}

TEST(large_answer_then_close_protocol_server)
{
    TP_NEED(tp_have_python, "python3 (with ssl)");
    struct srv v = {.cfg = TP_SERVER("server"), .protocol = true, .clients = big_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    cio_tls_config_free(v.cfg);
}

static void py_clients(struct srv *v)
{
    tp_run r = py(v, "line");
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "version TLSv1.3 alpn http/1.1\n"
                           "hello TLSv1.3 sni=localhost alpn=http/1.1 resumed=0 verified=0\n"
                           "ping from python\n"
                           "eof True with close_notify\n");
    free(r.out);
    r = py(v, "bulk");
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "bulk ok 1048576\n");
    free(r.out);
    r = py(v, "cert");
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, " verified=1\nping from python\n");
    free(r.out);
}

TEST(python_clients)
{
    TP_NEED(tp_have_python, "python3 (with ssl)");
    struct srv v = {.cfg = TP_SERVER("server", .alpn = "http/1.1",
                                     .client_cert = CIO_TLS_CLIENT_CERT_OPTIONAL,
                                     .ca_file = tp_path("ca.pem")),
                    .clients = py_clients};
    run_server(&v);
    EXPECT_EQ(3, v.handled);
    EXPECT_FALSE(v.seen[0].verified);
    EXPECT_TRUE(v.seen[2].verified);
    cio_tls_config_free(v.cfg);
}

/* STARTTLS: the client sends the command and its ClientHello in one
 * segment (Python's MemoryBIO), so the server's read of the command very
 * likely buffers the first TLS bytes too, which cio_stream_start_tls must
 * hand to TLS; the server's plaintext answer is still buffered when it
 * upgrades, and must go out in the clear first. */
static const char py_starttls_client[] =
    "import socket, ssl, sys\n"
    "port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
    "ctx = ssl.create_default_context(cafile=ca)\n"
    "raw = socket.create_connection(('127.0.0.1', port), timeout=60)\n"
    "inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()\n"
    "obj = ctx.wrap_bio(inc, out, server_hostname='localhost')\n"
    "if mode == 'pipelined':\n"
    "    try:\n"
    "        obj.do_handshake()\n"
    "    except ssl.SSLWantReadError:\n"
    "        pass\n"
    "    raw.sendall(b'STARTTLS\\n' + out.read())\n"
    "else:\n"
    "    raw.sendall(b'STARTTLS\\n')\n"
    "buf = b''\n"
    "while b'\\n' not in buf:\n"
    "    d = raw.recv(65536)\n"
    "    if not d:\n"
    "        sys.exit('eof before the answer')\n"
    "    buf += d\n"
    "line, rest = buf.split(b'\\n', 1)\n"
    "print('plain', line.decode(), flush=True)\n"
    "inc.write(rest)\n"
    "def pump(op):\n"
    "    while True:\n"
    "        try:\n"
    "            r = op()\n"
    "            o = out.read()\n"
    "            if o:\n"
    "                raw.sendall(o)\n"
    "            return r\n"
    "        except ssl.SSLWantReadError:\n"
    "            o = out.read()\n"
    "            if o:\n"
    "                raw.sendall(o)\n"
    "            d = raw.recv(65536)\n"
    "            if not d:\n"
    "                inc.write_eof()\n"
    "            else:\n"
    "                inc.write(d)\n"
    "pump(obj.do_handshake)\n"
    "print('upgraded', obj.version(), flush=True)\n"
    "pump(lambda: obj.write(b'ping after starttls\\n'))\n"
    "got = b''\n"
    "while got.count(b'\\n') < 2:\n"
    "    try:\n"
    "        d = pump(lambda: obj.read(65536))\n"
    "    except ssl.SSLEOFError:\n"
    "        break\n"
    "    if not d:\n"
    "        break\n"
    "    got += d\n"
    "sys.stdout.write(got.decode())\n"
    "raw.close()\n";

static void starttls_clients(struct srv *v)
{
    char port[16];
    snprintf(port, sizeof port, "%u", (unsigned)v->port);
    const char *argv[] = {"python3", "-c", py_starttls_client, port, tp_path("ca.pem"),
                          v->protocol ? "wait" : "pipelined", NULL};
    tp_run r = tp_run_peer(argv, NULL);
    EXPECT_RUN_OK(r);
    EXPECT_CONTAINS(r.out, "plain 220 go ahead\n"
                           "upgraded TLSv1.3\n"
                           "hello TLSv1.3 sni=localhost alpn=(none) resumed=0 verified=0\n"
                           "ping after starttls\n");
    free(r.out);
}

TEST(starttls_server)
{
    TP_NEED(tp_have_python, "python3 (with ssl)");
    struct srv v = {.cfg = TP_SERVER("server"), .starttls = true, .clients = starttls_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    cio_tls_config_free(v.cfg);
}

/* STARTTLS on a protocol server (cio_transport_start_tls from
 * data_received). The client waits for the plaintext answer before its
 * ClientHello (as RFC 3207 asks): data_received has no way to give back
 * bytes of its chunk that belong to TLS. */
TEST(starttls_protocol_server)
{
    TP_NEED(tp_have_python, "python3 (with ssl)");
    struct srv v = {.cfg = TP_SERVER("server"), .starttls = true, .protocol = true,
                    .clients = starttls_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    EXPECT_EQ(1, v.starttls_done);
    cio_tls_config_free(v.cfg);
}

/* ---- peers that stall mid-handshake ------------------------------------------------------ */

/* The start of a ClientHello: a handshake record announcing 512 bytes, of
 * which only the first few come. */
static const unsigned char half_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, /* record */
                                           0x01, 0x00, 0x01, 0xfc,       /* ClientHello */
                                           0x03, 0x03, 0x11, 0x22, 0x33, 0x44};

static void stall_clients(struct srv *v)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", v->port, &a));
    cio_stream *s[2];
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &s[0])); /* half a ClientHello */
    EXPECT_OK(cio_stream_write(s[0], half_hello, sizeof half_hello));
    EXPECT_OK(cio_stream_drain(s[0]));
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &s[1])); /* nothing at all */
    /* each is cut off: the server closes (an end of stream, or a reset) */
    for (int i = 0; i < 2; i++) {
        char buf[256];
        ssize_t n;
        /* whatever the server says before closing (an alert) is read on */
        while ((n = cio_stream_read(s[i], buf, sizeof buf)) > 0)
            ;
        if (n != 0 && n != -ECONNRESET)
            FAIL("connection %d: %s", i, cio_err_name((int)n));
        EXPECT_OK(cio_stream_abort(s[i]));
    }
    wait_idle(v);
}

TEST(stalled_handshake_stream_server)
{
    struct srv v = {.cfg = TP_SERVER("server", .handshake_timeout = 0.2), .clients = stall_clients};
    run_server(&v);
    EXPECT_EQ(0, v.handled);
    cio_tls_config_free(v.cfg);
}

TEST(stalled_handshake_protocol_server)
{
    struct srv v = {.cfg = TP_SERVER("server", .handshake_timeout = 0.2), .protocol = true,
                    .clients = stall_clients};
    run_server(&v);
    EXPECT_EQ(0, v.handled);
    cio_tls_config_free(v.cfg);
}

/* A stalled peer does not hold up others meanwhile: an s_client served
 * while the stalled connection waits for its timeout (a generous one). */
static void stall_and_serve_clients(struct srv *v)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", v->port, &a));
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &s));
    EXPECT_OK(cio_stream_write(s, half_hello, sizeof half_hello));
    EXPECT_OK(cio_stream_drain(s));
    basic_clients(v);
    EXPECT_OK(cio_stream_abort(s));
}

TEST(stalled_handshake_does_not_block_others)
{
    struct srv v = {.cfg = TP_SERVER("server", .handshake_timeout = 30),
                    .clients = stall_and_serve_clients};
    run_server(&v);
    EXPECT_EQ(1, v.handled);
    cio_tls_config_free(v.cfg);
}

int main(int argc, char **argv) { return tp_main(argc, argv); }
