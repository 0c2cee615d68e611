/* cio's TLS client against real servers: `openssl s_server` (-www, which
 * answers "GET /" with a page describing the session, and -WWW, which
 * serves files) and a Python ssl server (STARTTLS: a plaintext exchange,
 * then both sides upgrade). Every server is started by the case on a
 * loopback port it picks and killed and reaped at the end (tests/net/
 * tls_peers.h); the certificates come from tests/net/tls-certs.sh.
 *
 * Covered: a good certificate (by name, by IPv4 and IPv6 address), SNI
 * (s_server's second certificate chosen by the name sent), expired and
 * not-yet-valid ones (-EKEYEXPIRED), the wrong host (-EKEYREJECTED, the
 * text says "hostname mismatch"), an unknown CA (-EKEYREJECTED), the
 * system store and insecure, a client certificate required (given: the
 * server shows it; missing: TLS 1.3's certificate_required alert,
 * -EKEYREJECTED, on the handshake or the first read; TLS 1.2's
 * handshake_failure, -EPROTO), ALPN (nothing in common: -ENOPROTOOPT),
 * session resumption (TLS 1.3 and 1.2, off with
 * no_tickets), the versions, a large body read to the end (records and
 * OpenSSL's pending bytes), TLS 1.3 key updates from the server (asked
 * of the client or not), the transport style, STARTTLS, and a server that
 * never answers the ClientHello (handshake_timeout). */
#include <math.h>
#include <sys/stat.h>

#include "net/tls_peers.h"

static void strict_reports(void)
{
    cio_loop_set_report_handler(cio_current_loop(), test_fail_on_report, NULL);
}

/* ---- one GET through a cio stream ------------------------------------------ */

struct fetch {
    /* in */
    uint16_t port;
    const char *host;        /* address; NULL: 127.0.0.1 */
    const char *server_name; /* NULL: "localhost" */
    bool no_server_name;     /* connect with server_name NULL */
    cio_tls_config *cfg;
    const char *path;        /* NULL: "/" */
    bool read_first;         /* read before sending the request (a server
                                expected to refuse us: its alert, not a
                                reset for the request it did not read) */
    /* out */
    int rc;      /* cio_stream_connect's */
    int read_rc; /* the write's or cio_stream_read_all's error, else 0 */
    char err[512];
    char *page;
    size_t len;
    cio_tls_info info;
    char cipher[128], alpn[64], name[128];
};

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static void fetch_once(struct fetch *f)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip(f->host ? f->host : "127.0.0.1", f->port, &a));
    const char *name = f->no_server_name ? NULL : f->server_name ? f->server_name : "localhost";
    cio_stream *s = NULL;
    f->rc = cio_stream_connect(&a, NULL, &CIO_STREAM_OPTIONS(.tls = f->cfg, .server_name = name),
                               &s);
    f->read_rc = 0;
    free(f->page);
    f->page = NULL;
    f->len = 0;
    if (f->rc != 0) {
        EXPECT_TRUE(s == NULL);
        copy_str(f->err, sizeof f->err, cio_tls_last_error());
        return;
    }
    EXPECT_TRUE(cio_stream_ssl(s) != NULL);
    EXPECT_OK(cio_stream_tls_info(s, &f->info));
    copy_str(f->cipher, sizeof f->cipher, f->info.cipher);
    copy_str(f->alpn, sizeof f->alpn, f->info.alpn);
    copy_str(f->name, sizeof f->name, f->info.server_name);
    if (f->read_first) {
        char b[256];
        ssize_t r = cio_stream_read(s, b, sizeof b);
        EXPECT_TRUE(r <= 0);
        f->read_rc = (int)r;
        copy_str(f->err, sizeof f->err, cio_tls_last_error());
        EXPECT_OK(cio_stream_abort(s));
        return;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", f->path ? f->path : "/");
    int rc = cio_stream_write(s, req, (size_t)n);
    if (rc == 0)
        rc = cio_stream_drain(s);
    if (rc == 0) {
        void *data = NULL;
        rc = cio_stream_read_all(s, 8u << 20, &data, &f->len);
        f->page = data;
    }
    f->read_rc = rc;
    if (rc != 0) {
        copy_str(f->err, sizeof f->err, cio_tls_last_error());
        EXPECT_OK(cio_stream_abort(s));
    } else {
        int crc = cio_stream_close(s);
        /* s_server may reset after its page: the page is what counts */
        if (crc != 0 && crc != -ECONNRESET && crc != -EPIPE)
            FAIL("cio_stream_close: %s", cio_err_name(crc));
    }
}

struct fetches {
    struct fetch *f;
    int n;
};

static int fetch_main(void *arg, void **res)
{
    (void)res;
    struct fetches *fs = arg;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    for (int i = 0; i < fs->n; i++)
        fetch_once(&fs->f[i]);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

/* Runs the fetches in order, in one loop. */
static void run_fetches(struct fetch *f, int n)
{
    struct fetches fs = {f, n};
    EXPECT_OK(cio_run(fetch_main, &fs, NULL));
}

static void fetch_free(struct fetch *f)
{
    free(f->page);
    f->page = NULL;
}

#define EXPECT_CONTAINS(hay, needle)                                                              \
    do {                                                                                          \
        const char *h_ = (hay), *n_ = (needle);                                                   \
        if (!h_ || !strstr(h_, n_))                                                               \
            FAIL("expected \"%s\" in:\n%s", n_, h_ ? h_ : "(null)");                             \
    } while (0)

/* s_server's -www page names the session: "New, TLSv1.3, Cipher is ..." */
#define EXPECT_PAGE_OK(f)                                                                         \
    do {                                                                                          \
        EXPECT_OK((f)->rc);                                                                       \
        EXPECT_OK((f)->read_rc);                                                                  \
        EXPECT_TRUE((f)->page != NULL);                                                           \
        if (strncmp((f)->page, "HTTP/1.0 200 ok\r\n", 17) != 0)                                   \
            FAIL("the page starts with:\n%.200s", (f)->page);                                     \
    } while (0)

static const char *const www[] = {"-www", NULL};

/* ---- certificates ------------------------------------------------------------- */

TEST(good_certificate_by_name)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server(&srv, "server", www);
    struct fetch f = {.port = port, .cfg = TP_CLIENT()};
    run_fetches(&f, 1);
    EXPECT_PAGE_OK(&f);
    EXPECT_CONTAINS(f.page, "New, TLSv1.3, Cipher is ");
    EXPECT_CONTAINS(f.page, f.cipher);
    EXPECT_EQ(CIO_TLS_1_3, f.info.version);
    EXPECT_TRUE(f.info.peer_verified);
    EXPECT_FALSE(f.info.resumed);
    EXPECT_STR_EQ("localhost", f.name);
    EXPECT_STR_EQ("", f.alpn);
    EXPECT_TRUE(f.cipher[0] != 0);
    EXPECT_STR_EQ("", cio_tls_last_error());
    fetch_free(&f);
    cio_tls_config_free(f.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

/* An IP literal is checked against the certificate's IP addresses. */
TEST(good_certificate_by_address)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server(&srv, "server", www);
    struct fetch f = {.port = port, .server_name = "127.0.0.1", .cfg = TP_CLIENT()};
    run_fetches(&f, 1);
    EXPECT_PAGE_OK(&f);
    EXPECT_TRUE(f.info.peer_verified);
    fetch_free(&f);
    cio_tls_config_free(f.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

TEST(good_certificate_ipv6)
{
    int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool v6 = probe >= 0 && bind(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (probe >= 0)
        close(probe);
    if (!v6) {
        fprintf(stderr, "skipped: no IPv6 loopback\n");
        return;
    }
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server_at(&srv, "[::1]:0", NULL, "server", www);
    struct fetch f = {.port = port, .host = "::1", .server_name = "::1", .cfg = TP_CLIENT()};
    struct fetch g = {.port = port, .host = "::1", .server_name = "localhost",
                      .cfg = f.cfg};
    struct fetch fs[2] = {f, g};
    run_fetches(fs, 2);
    EXPECT_PAGE_OK(&fs[0]);
    EXPECT_TRUE(fs[0].info.peer_verified);
    EXPECT_PAGE_OK(&fs[1]);
    fetch_free(&fs[0]);
    fetch_free(&fs[1]);
    cio_tls_config_free(f.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

/* SNI: s_server has a second certificate for "alt.test"; a client naming
 * it gets that one (and verifies it: only it has the name), one naming
 * localhost the first. */
TEST(sni_sent)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    const char *const args[] = {"-www", "-servername", "alt.test", "-cert2", tp_path("sni.pem"),
                                "-key2", tp_path("sni.key"), NULL};
    uint16_t port = tp_s_server(&srv, "server", args);
    cio_tls_config *cfg = TP_CLIENT();
    struct fetch fs[3] = {{.port = port, .server_name = "alt.test", .cfg = cfg},
                          {.port = port, .server_name = "localhost", .cfg = cfg},
                          {.port = port, .server_name = "x.wild.test", .cfg = cfg}};
    run_fetches(fs, 3);
    EXPECT_PAGE_OK(&fs[0]);
    EXPECT_TRUE(fs[0].info.peer_verified);
    EXPECT_STR_EQ("alt.test", fs[0].name);
    EXPECT_PAGE_OK(&fs[1]);
    EXPECT_STR_EQ("localhost", fs[1].name);
    /* s_server matches its -servername exactly: x.wild.test gets the
     * first certificate, which does not name it */
    EXPECT_ERR(-EKEYREJECTED, fs[2].rc);
    if (!strcasestr(fs[2].err, "hostname mismatch"))
        FAIL("cio_tls_last_error(): \"%s\"", fs[2].err);
    fetch_free(&fs[0]);
    fetch_free(&fs[1]);
    cio_tls_config_free(cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

TEST(expired_certificate)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server(&srv, "expired", www);
    struct fetch f = {.port = port, .cfg = TP_CLIENT()};
    run_fetches(&f, 1);
    EXPECT_ERR(-EKEYEXPIRED, f.rc);
    if (!strcasestr(f.err, "expired"))
        FAIL("cio_tls_last_error(): \"%s\"", f.err);
    cio_tls_config_free(f.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

TEST(not_yet_valid_certificate)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server(&srv, "notyet", www);
    struct fetch f = {.port = port, .cfg = TP_CLIENT()};
    run_fetches(&f, 1);
    EXPECT_ERR(-EKEYEXPIRED, f.rc);
    if (!strcasestr(f.err, "not yet valid"))
        FAIL("cio_tls_last_error(): \"%s\"", f.err);
    cio_tls_config_free(f.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

TEST(wrong_host)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server(&srv, "wronghost", www);
    cio_tls_config *cfg = TP_CLIENT();
    /* a certificate for another name; then the good certificate asked
     * for a name it does not have, and for an address it does not have */
    tp_peer good;
    uint16_t gport = tp_s_server(&good, "server", www);
    struct fetch fs[3] = {
        {.port = port, .cfg = cfg},
        {.port = gport, .server_name = "other.example", .cfg = cfg},
        {.port = gport, .server_name = "127.0.0.2", .cfg = cfg},
    };
    run_fetches(fs, 3);
    for (int i = 0; i < 3; i++) {
        EXPECT_ERR(-EKEYREJECTED, fs[i].rc);
        if (!strcasestr(fs[i].err, "hostname mismatch") && !strcasestr(fs[i].err, "IP address mismatch"))
            FAIL("connection %d: cio_tls_last_error(): \"%s\"", i, fs[i].err);
    }
    if (!strcasestr(fs[0].err, "hostname mismatch"))
        FAIL("cio_tls_last_error(): \"%s\"", fs[0].err);
    cio_tls_config_free(cfg);
    tp_stop(&srv);
    tp_stop(&good);
    EXPECT_EQ(fds, test_fd_count());
}

TEST(unknown_ca)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server(&srv, "unknownca", www);
    cio_tls_config *ours = TP_CLIENT();
    /* the system's store knows neither test CA */
    cio_tls_config *sys = tp_config(&CIO_TLS_OPTIONS(0));
    cio_tls_config *insecure = tp_config(&CIO_TLS_OPTIONS(.insecure = true));
    struct fetch fs[3] = {
        {.port = port, .cfg = ours},
        {.port = port, .cfg = sys},
        {.port = port, .cfg = insecure},
    };
    run_fetches(fs, 3);
    for (int i = 0; i < 2; i++) {
        EXPECT_ERR(-EKEYREJECTED, fs[i].rc);
        if (!strcasestr(fs[i].err, "issuer") && !strcasestr(fs[i].err, "self-signed") &&
            !strcasestr(fs[i].err, "self signed"))
            FAIL("connection %d: cio_tls_last_error(): \"%s\"", i, fs[i].err);
    }
    /* insecure: connected, the page read, nothing verified */
    EXPECT_PAGE_OK(&fs[2]);
    EXPECT_FALSE(fs[2].info.peer_verified);
    fetch_free(&fs[2]);
    cio_tls_config_free(ours);
    cio_tls_config_free(sys);
    cio_tls_config_free(insecure);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

/* A verifying client with no server name at all is refused before it
 * connects (cio/net.h: server_name). */
TEST(no_server_name_is_einval)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server(&srv, "server", www);
    struct fetch f = {.port = port, .no_server_name = true, .cfg = TP_CLIENT()};
    run_fetches(&f, 1);
    EXPECT_ERR(-EINVAL, f.rc);
    cio_tls_config_free(f.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

/* ---- client certificates -------------------------------------------------------- */

static void client_cert_case(bool tls12)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    const char *const args[] = {"-www", "-Verify", "1", "-CAfile", tp_path("ca.pem"), NULL};
    uint16_t port = tp_s_server(&srv, "server", args);
    int maxv = tls12 ? CIO_TLS_1_2 : 0;
    cio_tls_config *with = TP_CLIENT(.cert_file = tp_path("client.pem"),
                                     .key_file = tp_path("client.key"), .max_version = maxv);
    cio_tls_config *without = TP_CLIENT(.max_version = maxv);
    struct fetch fs[2] = {{.port = port, .cfg = with},
                          {.port = port, .cfg = without, .read_first = true}};
    run_fetches(fs, 2);
    EXPECT_PAGE_OK(&fs[0]);
    EXPECT_CONTAINS(fs[0].page, "Client certificate");
    EXPECT_EQ(tls12 ? CIO_TLS_1_2 : CIO_TLS_1_3, fs[0].info.version);
    /* Without: TLS 1.2 fails the handshake; TLS 1.3 finishes the client's
     * side of it before the server checks, so the server's alert
     * ("certificate required") may come with the first read instead. */
    int err = fs[1].rc != 0 ? fs[1].rc : fs[1].read_rc;
    if (tls12)
        EXPECT_TRUE(fs[1].rc != 0);
    /* TLS 1.3 has an alert for it (certificate_required: -EKEYREJECTED);
     * a TLS 1.2 server can only say handshake_failure (-EPROTO) */
    if (err != (tls12 ? -EPROTO : -EKEYREJECTED))
        FAIL("without a client certificate: connect %s, read %s (\"%s\")", cio_err_name(fs[1].rc),
             cio_err_name(fs[1].read_rc), fs[1].err);
    if (!tls12 && !strcasestr(fs[1].err, "certificate required"))
        FAIL("cio_tls_last_error(): \"%s\"", fs[1].err);
    if (tls12 && !strcasestr(fs[1].err, "handshake failure") && !strcasestr(fs[1].err, "alert"))
        FAIL("cio_tls_last_error(): \"%s\"", fs[1].err);
    fetch_free(&fs[0]);
    fetch_free(&fs[1]);
    cio_tls_config_free(with);
    cio_tls_config_free(without);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

TEST(client_certificate_required_tls13) { client_cert_case(false); }
TEST(client_certificate_required_tls12) { client_cert_case(true); }

/* ---- ALPN, versions, resumption ------------------------------------------------- */

TEST(alpn_chosen)
{
    int fds = test_fd_baseline();
    tp_peer srv, plain;
    const char *const args[] = {"-www", "-alpn", "h2,http/1.1", NULL};
    uint16_t port = tp_s_server(&srv, "server", args);
    uint16_t pport = tp_s_server(&plain, "server", www); /* no ALPN at all */
    cio_tls_config *a = TP_CLIENT(.alpn = "http/1.1");
    cio_tls_config *b = TP_CLIENT(.alpn = "spdy/1,h2");
    /* nothing in common: s_server fails the handshake with the
     * no_application_protocol alert */
    cio_tls_config *c = TP_CLIENT(.alpn = "foo");
    struct fetch fs[4] = {{.port = port, .cfg = a}, {.port = port, .cfg = b},
                          {.port = port, .cfg = c}, {.port = pport, .cfg = b}};
    run_fetches(fs, 4);
    EXPECT_PAGE_OK(&fs[0]);
    EXPECT_STR_EQ("http/1.1", fs[0].alpn);
    EXPECT_PAGE_OK(&fs[1]);
    EXPECT_STR_EQ("h2", fs[1].alpn);
    EXPECT_ERR(-ENOPROTOOPT, fs[2].rc);
    if (!strcasestr(fs[2].err, "no application protocol"))
        FAIL("cio_tls_last_error(): \"%s\"", fs[2].err);
    /* a server that does not speak ALPN: connected, none chosen */
    EXPECT_PAGE_OK(&fs[3]);
    EXPECT_STR_EQ("", fs[3].alpn);
    for (int i = 0; i < 4; i++)
        fetch_free(&fs[i]);
    cio_tls_config_free(a);
    cio_tls_config_free(b);
    cio_tls_config_free(c);
    tp_stop(&srv);
    tp_stop(&plain);
    EXPECT_EQ(fds, test_fd_count());
}

TEST(versions)
{
    int fds = test_fd_baseline();
    tp_peer srv, srv12;
    uint16_t port = tp_s_server(&srv, "server", www);
    const char *const args12[] = {"-www", "-tls1_2", NULL};
    uint16_t port12 = tp_s_server(&srv12, "server", args12);
    cio_tls_config *v12 = TP_CLIENT(.max_version = CIO_TLS_1_2);
    cio_tls_config *v13 = TP_CLIENT(.min_version = CIO_TLS_1_3);
    cio_tls_config *any = TP_CLIENT();
    struct fetch fs[4] = {
        {.port = port, .cfg = v12},
        {.port = port, .cfg = v13},
        {.port = port12, .cfg = any},
        {.port = port12, .cfg = v13}, /* no version in common */
    };
    run_fetches(fs, 4);
    EXPECT_PAGE_OK(&fs[0]);
    EXPECT_EQ(CIO_TLS_1_2, fs[0].info.version);
    EXPECT_CONTAINS(fs[0].page, "New, TLSv1.2, Cipher is ");
    EXPECT_PAGE_OK(&fs[1]);
    EXPECT_EQ(CIO_TLS_1_3, fs[1].info.version);
    EXPECT_PAGE_OK(&fs[2]);
    EXPECT_EQ(CIO_TLS_1_2, fs[2].info.version);
    EXPECT_TRUE(fs[2].info.peer_verified);
    EXPECT_ERR(-EPROTO, fs[3].rc);
    EXPECT_TRUE(fs[3].err[0] != 0);
    for (int i = 0; i < 4; i++)
        fetch_free(&fs[i]);
    cio_tls_config_free(v12);
    cio_tls_config_free(v13);
    cio_tls_config_free(any);
    tp_stop(&srv);
    tp_stop(&srv12);
    EXPECT_EQ(fds, test_fd_count());
}

/* Two connections with one configuration: the second resumes (s_server
 * says "Reused" on its page, cio says resumed); with no_tickets neither
 * does. */
static void resumption_case(int maxv, const char *vname)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server(&srv, "server", www);
    cio_tls_config *cfg = TP_CLIENT(.max_version = maxv);
    cio_tls_config *none = TP_CLIENT(.max_version = maxv, .no_tickets = true);
    struct fetch fs[4] = {{.port = port, .cfg = cfg}, {.port = port, .cfg = cfg},
                          {.port = port, .cfg = none}, {.port = port, .cfg = none}};
    run_fetches(fs, 4);
    char want[64];
    for (int i = 0; i < 4; i++) {
        EXPECT_PAGE_OK(&fs[i]);
        bool reused = i == 1;
        snprintf(want, sizeof want, "%s, %s, Cipher is ", reused ? "Reused" : "New", vname);
        EXPECT_CONTAINS(fs[i].page, want);
        if (fs[i].info.resumed != reused)
            FAIL("connection %d: resumed %d", i, fs[i].info.resumed);
        EXPECT_TRUE(fs[i].info.peer_verified || reused);
        fetch_free(&fs[i]);
    }
    cio_tls_config_free(cfg);
    cio_tls_config_free(none);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

TEST(session_resumed_tls13) { resumption_case(0, "TLSv1.3"); }
TEST(session_resumed_tls12) { resumption_case(CIO_TLS_1_2, "TLSv1.2"); }

/* A 3 MiB file through s_server -WWW: many records, read to the end. */
TEST(large_body)
{
    int fds = test_fd_baseline();
    size_t size = 3u << 20;
    char *body = malloc(size);
    EXPECT_TRUE(body != NULL);
    for (size_t i = 0; i < size; i++)
        body[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    FILE *fp = fopen(tp_path("big.txt"), "w");
    EXPECT_TRUE(fp != NULL);
    EXPECT_EQ(size, fwrite(body, 1, size, fp));
    EXPECT_EQ(0, fclose(fp));
    tp_peer srv;
    /* -WWW serves files relative to s_server's working directory */
    const char *const args[] = {"-WWW", NULL};
    uint16_t port = tp_s_server_at(&srv, "127.0.0.1:0", tp_dir, "server", args);
    struct fetch f = {.port = port, .cfg = TP_CLIENT(), .path = "/big.txt"};
    run_fetches(&f, 1);
    EXPECT_OK(f.rc);
    EXPECT_OK(f.read_rc);
    const char *sep = f.page ? strstr(f.page, "\r\n\r\n") : NULL;
    if (!sep)
        FAIL("no header in the answer (%zu bytes)", f.len);
    EXPECT_TRUE(strncmp(f.page, "HTTP/1.0 200 ok", 15) == 0);
    size_t off = (size_t)(sep + 4 - f.page);
    EXPECT_EQ(size, f.len - off);
    EXPECT_TRUE(memcmp(f.page + off, body, size) == 0);
    fetch_free(&f);
    free(body);
    cio_tls_config_free(f.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

/* ---- TLS 1.3 key updates ---------------------------------------------------------- */

/* s_server in its interactive mode: what the client sends is printed on
 * its stdout, the lines of its stdin are sent to the client, and a line
 * "K" (or "k") makes it send a KeyUpdate asking the client to update too
 * (or not). Each step waits for the previous one's effect. */
struct keyupdate {
    tp_peer *srv;
    uint16_t port;
    cio_tls_config *cfg;
};

static void ku_round(cio_stream *s, tp_peer *srv, const char *cmd, int i)
{
    char msg[64], line[128];
    snprintf(msg, sizeof msg, "to server %d\n", i);
    EXPECT_OK(cio_stream_write(s, msg, strlen(msg)));
    EXPECT_OK(cio_stream_drain(s));
    snprintf(msg, sizeof msg, "to server %d", i);
    tp_wait_line(srv, msg, line, sizeof line);
    /* the server updates its keys (the loop thread blocks meanwhile:
     * nothing of the loop's is needed) */
    tp_send(srv, cmd);
    tp_wait_line(srv, "SSL_do_handshake -> ", line, sizeof line);
    EXPECT_STR_EQ("SSL_do_handshake -> 1", line);
    snprintf(msg, sizeof msg, "to client %d\n", i);
    tp_send(srv, msg);
    /* read with the server's new keys */
    ssize_t n = cio_stream_read_line(s, line, sizeof line);
    EXPECT_EQ((ssize_t)strlen(msg), n);
    EXPECT_TRUE(memcmp(line, msg, (size_t)n) == 0);
}

static int keyupdate_main(void *arg, void **res)
{
    (void)res;
    struct keyupdate *k = arg;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", k->port, &a));
    cio_stream *s;
    int rc = cio_stream_connect(&a, NULL,
                                &CIO_STREAM_OPTIONS(.tls = k->cfg, .server_name = "localhost"), &s);
    if (rc != 0)
        FAIL("connect: %s (%s)", cio_err_name(rc), cio_tls_last_error());
    ku_round(s, k->srv, "k\n", 1); /* an update, none asked of the client */
    ku_round(s, k->srv, "K\n", 2); /* an update, and the client's asked for */
    ku_round(s, k->srv, "K\n", 3);
    /* the client's later records, after its own update, still decrypt */
    char line[128];
    EXPECT_OK(cio_stream_write(s, "last\n", 5));
    EXPECT_OK(cio_stream_drain(s));
    tp_wait_line(k->srv, "last", line, sizeof line);
    cio_tls_info info;
    EXPECT_OK(cio_stream_tls_info(s, &info));
    EXPECT_EQ(CIO_TLS_1_3, info.version);
    EXPECT_OK(cio_stream_abort(s));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(key_updates_tls13)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    uint16_t port = tp_s_server_io(&srv, "127.0.0.1:0", NULL, "server", NULL, true);
    struct keyupdate k = {.srv = &srv, .port = port, .cfg = TP_CLIENT()};
    EXPECT_OK(cio_run(keyupdate_main, &k, NULL));
    cio_tls_config_free(k.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

/* ---- the transport style --------------------------------------------------------- */

struct tget {
    char *buf;
    size_t len, cap;
    bool made, lost;
    int lost_err;
    cio_tls_info info;
    char alpn[64];
    bool resumed;
};

static int tg_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct tget *g = arg;
    g->made = true;
    EXPECT_TRUE(cio_transport_ssl(t) != NULL);
    EXPECT_OK(cio_transport_tls_info(t, &g->info));
    copy_str(g->alpn, sizeof g->alpn, g->info.alpn);
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    EXPECT_OK(cio_transport_write(t, req, sizeof req - 1));
    return 0;
}

static void tg_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)t;
    struct tget *g = ctx;
    if (g->len + len + 1 > g->cap) {
        g->cap = (g->len + len + 1) * 2;
        g->buf = realloc(g->buf, g->cap);
        EXPECT_TRUE(g->buf != NULL);
    }
    memcpy(g->buf + g->len, data, len);
    g->len += len;
    g->buf[g->len] = 0;
}

static void tg_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct tget *g = ctx;
    g->lost = true;
    g->lost_err = err;
}

static const cio_protocol tg_proto = {
    .connection_made = tg_made, .data_received = tg_data, .connection_lost = tg_lost};

struct tmain {
    uint16_t port;
    cio_tls_config *cfg;
    struct tget g;
    int fut_rc;
};

static int transport_main(void *arg, void **res)
{
    (void)res;
    struct tmain *m = arg;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", m->port, &a));
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &a, NULL,
                                    &CIO_STREAM_OPTIONS(.tls = m->cfg, .server_name = "localhost"),
                                    &tg_proto, &m->g, &f));
    m->fut_rc = cio_await(f, NULL);
    cio_future_unref(f);
    /* the page ends with s_server closing: connection_lost */
    for (int i = 0; i < 600000 && m->fut_rc == 0 && !m->g.lost; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(transport_client)
{
    int fds = test_fd_baseline();
    tp_peer srv;
    const char *const args[] = {"-www", "-alpn", "http/1.1", NULL};
    uint16_t port = tp_s_server(&srv, "server", args);
    struct tmain m = {.port = port, .cfg = TP_CLIENT(.alpn = "http/1.1")};
    EXPECT_OK(cio_run(transport_main, &m, NULL));
    EXPECT_OK(m.fut_rc);
    EXPECT_TRUE(m.g.made);
    EXPECT_TRUE(m.g.lost);
    EXPECT_TRUE(m.g.info.peer_verified);
    EXPECT_STR_EQ("http/1.1", m.g.alpn);
    EXPECT_TRUE(m.g.buf && strncmp(m.g.buf, "HTTP/1.0 200 ok\r\n", 17) == 0);
    EXPECT_CONTAINS(m.g.buf, "New, TLSv1.3");
    free(m.g.buf);
    /* a failing handshake: the future fails, and no callback runs */
    tp_stop(&srv);
    port = tp_s_server(&srv, "expired", www);
    struct tmain e = {.port = port, .cfg = m.cfg};
    EXPECT_OK(cio_run(transport_main, &e, NULL));
    EXPECT_ERR(-EKEYEXPIRED, e.fut_rc);
    EXPECT_FALSE(e.g.made);
    EXPECT_FALSE(e.g.lost);
    cio_tls_config_free(m.cfg);
    tp_stop(&srv);
    EXPECT_EQ(fds, test_fd_count());
}

/* ---- STARTTLS against a Python ssl server ------------------------------------------ */

/* Reads the plaintext command a byte at a time (so that no TLS byte is
 * taken from the socket), answers it, upgrades, then echoes argv[3] bytes
 * and closes without close_notify (cio reads that as an end of stream). */
static const char py_starttls_server[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "want = int(sys.argv[3])\n"
    "ls = socket.socket()\n"
    "ls.bind(('127.0.0.1', 0))\n"
    "ls.listen(1)\n"
    "ls.settimeout(60)\n"
    "print('port', ls.getsockname()[1], flush=True)\n"
    "c, _ = ls.accept()\n"
    "c.settimeout(60)\n"
    "line = b''\n"
    "while not line.endswith(b'\\n'):\n"
    "    d = c.recv(1)\n"
    "    if not d:\n"
    "        sys.exit('eof before the command')\n"
    "    line += d\n"
    "assert line == b'STARTTLS\\n', line\n"
    "c.sendall(b'220 go ahead\\n')\n"
    "t = ctx.wrap_socket(c, server_side=True)\n"
    "print('upgraded', t.version(), flush=True)\n"
    "n = 0\n"
    "while n < want:\n"
    "    d = t.recv(65536)\n"
    "    if not d:\n"
    "        break\n"
    "    t.sendall(d)\n"
    "    n += len(d)\n"
    "print('echoed', n, flush=True)\n"
    "t.close()\n";

struct starttls {
    uint16_t port;
    cio_tls_config *cfg;
    size_t size;
    cio_stream *s;
    int write_rc;
    cio_tls_info info;
};

static int st_writer(void *arg, void **res)
{
    (void)res;
    struct starttls *st = arg;
    char chunk[8192];
    int rc = 0;
    for (size_t off = 0; off < st->size && rc == 0; off += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = (char)((off + i) * 31 % 251);
        size_t n = st->size - off < sizeof chunk ? st->size - off : sizeof chunk;
        rc = cio_stream_write(st->s, chunk, n);
    }
    if (rc == 0)
        rc = cio_stream_drain(st->s);
    st->write_rc = rc;
    return 0;
}

static int starttls_main(void *arg, void **res)
{
    (void)res;
    struct starttls *st = arg;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", st->port, &a));
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &s));
    /* a plain stream: no TLS yet */
    cio_tls_info info;
    EXPECT_ERR(-ENOTCONN, cio_stream_tls_info(s, &info));
    EXPECT_TRUE(cio_stream_ssl(s) == NULL);
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(NULL, st->cfg, "localhost"));
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(s, st->cfg, NULL)); /* verifying, no name */
    EXPECT_OK(cio_stream_write(s, "STARTTLS\n", 9));
    char line[64];
    ssize_t n = cio_stream_read_line(s, line, sizeof line);
    EXPECT_EQ(13, n);
    EXPECT_TRUE(memcmp(line, "220 go ahead\n", 13) == 0);
    EXPECT_OK(cio_stream_start_tls(s, st->cfg, "localhost"));
    EXPECT_OK(cio_stream_tls_info(s, &st->info));
    EXPECT_TRUE(st->info.peer_verified);
    EXPECT_TRUE(cio_stream_ssl(s) != NULL);
    EXPECT_ERR(-EINVAL, cio_stream_start_tls(s, st->cfg, "localhost")); /* already TLS */
    /* echo, written by another task while this one reads */
    st->s = s;
    cio_task *w;
    EXPECT_OK(cio_spawn(st_writer, st, &w));
    char buf[16384];
    size_t got = 0;
    while (got < st->size) {
        ssize_t r = cio_stream_read(s, buf, sizeof buf);
        if (r <= 0)
            FAIL("read after %zu of %zu bytes: %s", got, st->size, cio_err_name((int)r));
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != (char)((got + (size_t)i) * 31 % 251))
                FAIL("byte %zu differs", got + (size_t)i);
        got += (size_t)r;
    }
    EXPECT_OK(cio_await(w, NULL));
    cio_future_unref(w);
    EXPECT_OK(st->write_rc);
    /* the server closes without close_notify: an ordinary end */
    EXPECT_EQ(0, cio_stream_read(s, buf, sizeof buf));
    int crc = cio_stream_close(s);
    if (crc != 0 && crc != -ECONNRESET && crc != -EPIPE)
        FAIL("cio_stream_close: %s", cio_err_name(crc));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(starttls_python_server)
{
    TP_NEED(tp_have_python, "python3 (with ssl)");
    int fds = test_fd_baseline();
    size_t size = 1u << 20;
    char want[32];
    snprintf(want, sizeof want, "%zu", size);
    tp_peer py;
    const char *const args[] = {tp_path("server.pem"), tp_path("server.key"), want, NULL};
    uint16_t port = tp_python_server(&py, py_starttls_server, args);
    struct starttls st = {.port = port, .cfg = TP_CLIENT(), .size = size};
    EXPECT_OK(cio_run(starttls_main, &st, NULL));
    char line[64];
    tp_wait_line(&py, "upgraded ", line, sizeof line);
    EXPECT_STR_EQ("upgraded TLSv1.3", line);
    snprintf(want, sizeof want, "echoed %zu", size);
    tp_wait_line(&py, "echoed ", line, sizeof line);
    EXPECT_STR_EQ(want, line);
    EXPECT_EQ(CIO_TLS_1_3, st.info.version);
    cio_tls_config_free(st.cfg);
    tp_stop(&py);
    EXPECT_EQ(fds, test_fd_count());
}

/* ---- a server that never answers --------------------------------------------------- */

struct stall {
    cio_tls_config *cfg;
    int rc;
};

static int stall_main(void *arg, void **res)
{
    (void)res;
    struct stall *st = arg;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    /* listening, never accepting: the kernel completes the TCP handshake,
     * nobody ever answers the ClientHello */
    int lfd;
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd));
    EXPECT_OK(cio_socket_local(lfd, &a));
    cio_stream *s = NULL;
    st->rc = cio_stream_connect(
        &a, NULL, &CIO_STREAM_OPTIONS(.tls = st->cfg, .server_name = "localhost"), &s);
    EXPECT_TRUE(s == NULL);
    EXPECT_EQ(0, close(lfd));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(handshake_timeout_client)
{
    int fds = test_fd_baseline();
    struct stall st = {.cfg = TP_CLIENT(.handshake_timeout = 0.2)};
    EXPECT_OK(cio_run(stall_main, &st, NULL));
    EXPECT_ERR(-ETIMEDOUT, st.rc);
    cio_tls_config_free(st.cfg);
    EXPECT_EQ(fds, test_fd_count());
}

int main(int argc, char **argv) { return tp_main(argc, argv); }
