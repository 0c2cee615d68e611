/* The HTTP client (include/cio/http_client.h) against Debian's nginx,
 * started by each case on loopback ports with its configuration, pid file
 * and logs in a temporary directory: files of several sizes (a 20 MiB one
 * streamed in constant memory), gzip, keep-alive reuse, HEAD, 404, a
 * redirect, 100 tasks at once within the pool's limits, chunked responses
 * (nginx proxying to a cio server that streams), the request's budget
 * against a body trickled through nginx, nginx as an HTTP forward proxy (the proxy option and the
 * http_proxy / no_proxy variables), an HTTPS origin (a self-signed
 * certificate made by openssl: trusted through ca_file, refused by the
 * system store) and HTTPS through a CONNECT proxy (a cio task: nginx cannot
 * CONNECT). Exits 77 (skip) when nginx or openssl is missing. */
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cio/http_client.h>

#include "http/http_util.h"
#include "http/peer_util.h"

#define RUN(fn, arg)                                                                               \
    do {                                                                                           \
        int before_ = fd_count_warm();                                                             \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                         \
        EXPECT_FDS(before_);                                                                       \
    } while (0)

static const char *nginx_bin = "nginx";

/* ---- Test data -------------------------------------------------------------------- */

/* The byte at offset i of every test file: not periodic at any small
 * power of two, so a misplaced block shows. */
static inline unsigned char pat(uint64_t i)
{
    return (unsigned char)(i * 131u + (i >> 12) * 7u);
}

static void write_file(const char *path, uint64_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) FAIL("open %s: %s", path, strerror(errno));
    unsigned char buf[65536];
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(off + i);
        if (write(fd, buf, n) != (ssize_t)n) FAIL("write %s: %s", path, strerror(errno));
        off += n;
    }
    close(fd);
}

/* Compressible text: numbered lines. */
static char *text_data(size_t *len)
{
    size_t cap = 256 * 1024, n = 0;
    char *t = malloc(cap);
    for (int i = 0; n + 100 < cap; i++)
        n += (size_t)snprintf(t + n, cap - n,
                              "line %d: the quick brown fox jumps over the lazy dog\n", i);
    *len = n;
    return t;
}

static bool check_pat(const void *data, size_t len, uint64_t off)
{
    const unsigned char *d = data;
    for (size_t i = 0; i < len; i++)
        if (d[i] != pat(off + i)) return false;
    return true;
}

/* ---- nginx ------------------------------------------------------------------------- */

struct ngx {
    char dir[256];
    pid_t pid;
    int port;       /* plain origin: files, gzip, redirect, /up/ proxied to up_port */
    int tls_port;   /* the same files over HTTPS (with_tls) */
    int proxy_port; /* forward proxy: proxy_pass http://$http_host */
    int up_port;    /* a cio server nginx proxies /up/ to (0: none) */
    bool with_tls;
    bool big; /* make the 20 MiB file */
};

static char *ngx_path(const struct ngx *n, const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", n->dir, name);
    return b;
}

/* A port free now (bound to port 0, then closed). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        FAIL("free_port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static void run_cmd(char *const argv[])
{
    char *out = NULL;
    int rc = peer_run(argv, NULL, 120, &out);
    if (rc != 0) FAIL("%s failed (%d):\n%s", argv[0], rc, out ? out : "");
    free(out);
}

static void ngx_write_conf(struct ngx *n)
{
    FILE *f = fopen(ngx_path(n, "nginx.conf"), "w");
    if (!f) FAIL("nginx.conf: %s", strerror(errno));
    const char *d = n->dir;
    fprintf(f,
            "master_process off;\n"
            "pid %s/nginx.pid;\n"
            "error_log %s/error.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "  access_log %s/access.log;\n"
            "  client_body_temp_path %s/tmp_body;\n"
            "  proxy_temp_path %s/tmp_proxy;\n"
            "  fastcgi_temp_path %s/tmp_fcgi;\n"
            "  uwsgi_temp_path %s/tmp_uwsgi;\n"
            "  scgi_temp_path %s/tmp_scgi;\n"
            "  types { text/plain txt; application/octet-stream bin; }\n"
            "  default_type application/octet-stream;\n"
            "  keepalive_requests 10000;\n"
            "  keepalive_timeout 600s;\n"
            "  server {\n"
            "    listen 127.0.0.1:%d;\n",
            d, d, d, d, d, d, d, d, n->port);
    if (n->with_tls)
        fprintf(f,
                "    listen 127.0.0.1:%d ssl;\n"
                "    ssl_certificate %s/cert.pem;\n"
                "    ssl_certificate_key %s/key.pem;\n",
                n->tls_port, d, d);
    fprintf(f,
            "    root %s/www;\n"
            "    location /gz/ { gzip on; gzip_types text/plain; gzip_min_length 1; }\n"
            "    location = /r { return 301 /4k.bin; }\n"
            "    location = /r2 { return 302 /r; }\n",
            d);
    if (n->up_port)
        fprintf(f,
                "    location /up/ { proxy_pass http://127.0.0.1:%d; proxy_http_version 1.1;\n"
                "                   proxy_buffering off; }\n",
                n->up_port);
    fprintf(f,
            "  }\n"
            "  server {\n"
            "    listen 127.0.0.1:%d;\n"
            "    location / { proxy_pass http://$http_host; proxy_http_version 1.1;\n"
            "                 proxy_set_header X-Via-Nginx yes; proxy_buffering off; }\n"
            "  }\n"
            "}\n",
            n->proxy_port);
    fclose(f);
}

/* Makes the directory, the files and (with_tls) the certificate; starts
 * nginx and waits until it listens. Called from a task (it sleeps with
 * cio_sleep while nginx starts). */
static void ngx_start(struct ngx *n)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(n->dir, sizeof n->dir, "%s/cio-nginx-XXXXXX", tmp);
    if (!mkdtemp(n->dir)) FAIL("mkdtemp: %s", strerror(errno));
    chmod(n->dir, 0755);
    mkdir(ngx_path(n, "www"), 0755);
    mkdir(ngx_path(n, "www/gz"), 0755);
    write_file(ngx_path(n, "www/empty.bin"), 0);
    write_file(ngx_path(n, "www/1.bin"), 1);
    write_file(ngx_path(n, "www/4k.bin"), 4096);
    write_file(ngx_path(n, "www/1m.bin"), 1 << 20);
    if (n->big) write_file(ngx_path(n, "www/20m.bin"), 20u << 20);
    size_t tl;
    char *text = text_data(&tl);
    FILE *tf = fopen(ngx_path(n, "www/gz/text.txt"), "w");
    if (!tf || fwrite(text, 1, tl, tf) != tl) FAIL("text.txt");
    fclose(tf);
    free(text);
    if (n->with_tls) {
        char *argv[] = {"openssl",
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-nodes",
                        "-keyout",
                        ngx_path(n, "key.pem"),
                        "-out",
                        ngx_path(n, "cert.pem"),
                        "-days",
                        "2",
                        "-subj",
                        "/CN=localhost",
                        "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        NULL};
        run_cmd(argv);
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        n->port = free_port();
        n->proxy_port = free_port();
        n->tls_port = n->with_tls ? free_port() : 0;
        if (n->port == n->proxy_port ||
            (n->with_tls && (n->tls_port == n->port || n->tls_port == n->proxy_port)))
            continue;
        ngx_write_conf(n);
        char *conf = ngx_path(n, "nginx.conf"), *prefix = n->dir, *errf = ngx_path(n, "stderr.log");
        fflush(NULL);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) FAIL("fork: %s", strerror(errno));
        if (pid == 0) {
            /* nginx dies with the case's process, also when the case fails. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(127);
            int fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int in = open("/dev/null", O_RDONLY);
            if (fd < 0 || in < 0) _exit(127);
            dup2(in, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            execl(nginx_bin, "nginx", "-p", prefix, "-c", conf, "-g", "daemon off;", (char *)NULL);
            _exit(127);
        }
        n->pid = pid;
        /* Until every port accepts, or nginx exits (a port taken meanwhile:
         * try others). At most 30 s. */
        bool up = false, exited = false;
        for (int i = 0; i < 3000 && !up && !exited; i++) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                exited = true;
                break;
            }
            up = port_open(n->port) && port_open(n->proxy_port) &&
                 (!n->with_tls || port_open(n->tls_port));
            if (!up) EXPECT_OK(cio_sleep(0.01));
        }
        if (up) return;
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        n->pid = 0;
        int efd = open(ngx_path(n, "stderr.log"), O_RDONLY | O_CLOEXEC);
        char *log = efd >= 0 ? peer_slurp(efd) : strdup("");
        int lfd = open(ngx_path(n, "error.log"), O_RDONLY | O_CLOEXEC);
        char *elog = lfd >= 0 ? peer_slurp(lfd) : strdup("");
        bool retry = strstr(log, "in use") || strstr(elog, "in use");
        if (!retry) FAIL("nginx did not start:\n%s\n%s", log, elog);
        free(log);
        free(elog);
    }
    FAIL("nginx: no free ports after 5 attempts");
}

static void ngx_stop(struct ngx *n)
{
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        bool to;
        peer_wait(n->pid, 30, &to);
        n->pid = 0;
    }
    if (n->dir[0]) nftw(n->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    n->dir[0] = 0;
}

static char *url_of(int port, const char *scheme, const char *path)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 256, "%s://127.0.0.1:%d%s", scheme, port, path);
    return b;
}

/* ---- Client helpers ------------------------------------------------------------------ */

static cio_http_client *client_new(cio_http_client_options o)
{
    /* Counts of reused connections must not depend on how fast a loaded
     * machine runs: no idle expiry within a case. */
    if (!o.idle_timeout) o.idle_timeout = 600;
    cio_http_client *c = NULL;
    int rc = cio_http_client_new(&o, &c);
    if (rc) FAIL("cio_http_client_new: %s", cio_err_name(rc));
    return c;
}

/* A client that never looks at the environment's proxies. */
static cio_http_client *plain_client(void)
{
    return client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true));
}

/* GET url, expect status, body into *data (the reply's) and length. */
static cio_http_reply *get_ok(cio_http_client *c, const char *url, int status, const void **data,
                              size_t *len)
{
    cio_http_reply *r = NULL;
    int rc = cio_http_client_get(c, url, &r);
    if (rc) FAIL("GET %s: %s (%s)", url, cio_err_name(rc), cio_tls_last_error());
    EXPECT_EQ(status, cio_http_reply_status(r));
    const void *d;
    size_t l;
    EXPECT_OK(cio_http_reply_body(r, 64u << 20, &d, &l));
    if (data) *data = d;
    if (len) *len = l;
    return r;
}

/* ---- Files ------------------------------------------------------------------------- */

static int files_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct ngx n = {.big = true};
    ngx_start(&n);
    cio_http_client *c = plain_client();
    static const struct {
        const char *path;
        size_t size;
    } files[] = {{"/empty.bin", 0}, {"/1.bin", 1}, {"/4k.bin", 4096}, {"/1m.bin", 1 << 20}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const void *d;
        size_t l;
        cio_http_reply *r = get_ok(c, url_of(n.port, "http", files[i].path), 200, &d, &l);
        EXPECT_EQ(files[i].size, l);
        EXPECT_TRUE(check_pat(d, l, 0));
        EXPECT_EQ((int64_t)files[i].size, cio_http_reply_content_length(r));
        EXPECT_STR_EQ("application/octet-stream", cio_http_reply_header(r, "content-type"));
        EXPECT_TRUE(cio_http_reply_header(r, "Server") != NULL);
        EXPECT_EQ(1, cio_http_reply_version(r));
        EXPECT_STR_EQ("OK", cio_http_reply_reason(r));
        EXPECT_STR_EQ(url_of(n.port, "http", files[i].path), cio_http_reply_url(r));
        /* The body's second call returns the same. */
        const void *d2;
        size_t l2;
        EXPECT_OK(cio_http_reply_body(r, 0, &d2, &l2));
        EXPECT_PTR_EQ(d, d2);
        EXPECT_EQ(l, l2);
        cio_http_reply_free(r);
        EXPECT_EQ(1, cio_http_client_connections(c));
        EXPECT_EQ(1, cio_http_client_idle(c));
    }

    /* 20 MiB streamed with cio_http_reply_read, in constant memory. */
    cio_http_reply *r;
    EXPECT_OK(cio_http_client_get(c, url_of(n.port, "http", "/20m.bin"), &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_EQ((int64_t)20 << 20, cio_http_reply_content_length(r));
    long hwm0 = vm_hwm_kib();
    static unsigned char buf[65536];
    uint64_t total = 0;
    int reads = 0;
    for (;;) {
        ssize_t k = cio_http_reply_read(r, buf, sizeof buf);
        if (k < 0) FAIL("read at %llu: %s", (unsigned long long)total, cio_err_name((int)k));
        if (k == 0) break;
        if (!check_pat(buf, (size_t)k, total))
            FAIL("20 MiB body differs near offset %llu", (unsigned long long)total);
        total += (uint64_t)k;
        if (++reads > 100000) FAIL("too many reads");
    }
    EXPECT_EQ((uint64_t)20 << 20, total);
    EXPECT_EQ(0, cio_http_reply_read(r, buf, sizeof buf)); /* the end stays the end */
    long hwm1 = vm_hwm_kib();
    if (hwm1 - hwm0 > 8 * 1024) FAIL("memory grew by %ld KiB while streaming 20 MiB", hwm1 - hwm0);
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));

    /* A reply freed before its body was read closes its connection. */
    EXPECT_OK(cio_http_client_get(c, url_of(n.port, "http", "/1m.bin"), &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_EQ(100, cio_http_reply_read(r, buf, 100));
    cio_http_reply_free(r);
    EXPECT_EQ(0, cio_http_client_connections(c));
    /* ... and the next request opens another. */
    const void *d;
    size_t l;
    r = get_ok(c, url_of(n.port, "http", "/1.bin"), 200, &d, &l);
    EXPECT_EQ(1, l);
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));

    EXPECT_OK(cio_http_client_free(c));
    ngx_stop(&n);
    return 0;
}

TEST_T(nginx_files, 120)
{
    RUN(files_main, NULL);
}

/* ---- gzip ---------------------------------------------------------------------------- */

static int gzip_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct ngx n = {0};
    ngx_start(&n);
    size_t tl;
    char *text = text_data(&tl);
    const char *u = url_of(n.port, "http", "/gz/text.txt");

    /* Decoded by default. */
    cio_http_client *c = plain_client();
    const void *d;
    size_t l;
    cio_http_reply *r = get_ok(c, u, 200, &d, &l);
    EXPECT_STR_EQ("gzip", cio_http_reply_header(r, "Content-Encoding"));
    EXPECT_EQ(-1, cio_http_reply_content_length(r)); /* nginx compresses as it sends */
    EXPECT_EQ(tl, l);
    EXPECT_TRUE(memcmp(text, d, tl) == 0);
    cio_http_reply_free(r);
    /* Also when read in small pieces. */
    EXPECT_OK(cio_http_client_get(c, u, &r));
    size_t got = 0;
    char small[7];
    for (int i = 0; i < 1000000; i++) {
        ssize_t k = cio_http_reply_read(r, small, sizeof small);
        EXPECT_TRUE(k >= 0);
        if (k == 0) break;
        EXPECT_TRUE(got + (size_t)k <= tl);
        EXPECT_TRUE(memcmp(text + got, small, (size_t)k) == 0);
        got += (size_t)k;
    }
    EXPECT_EQ(tl, got);
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));

    /* no_decompress: no Accept-Encoding, so nginx sends the text as it is... */
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true, .no_decompress = true));
    r = get_ok(c, u, 200, &d, &l);
    EXPECT_TRUE(cio_http_reply_header(r, "Content-Encoding") == NULL);
    EXPECT_EQ(tl, l);
    EXPECT_TRUE(memcmp(text, d, tl) == 0);
    cio_http_reply_free(r);
    /* ...and asked for gzip by the caller, the body stays compressed. */
    cio_http_field ae = {"Accept-Encoding", "gzip"};
    EXPECT_OK(cio_http_client_request_send(
        c, &CIO_HTTP_CLIENT_REQUEST(.url = u, .headers = &ae, .nheaders = 1), &r));
    EXPECT_STR_EQ("gzip", cio_http_reply_header(r, "Content-Encoding"));
    EXPECT_OK(cio_http_reply_body(r, 0, &d, &l));
    EXPECT_TRUE(l > 2 && l < tl);
    EXPECT_EQ(0x1f, ((const unsigned char *)d)[0]);
    EXPECT_EQ(0x8b, ((const unsigned char *)d)[1]);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    free(text);
    ngx_stop(&n);
    return 0;
}

TEST_T(nginx_gzip, 120)
{
    RUN(gzip_main, NULL);
}

/* ---- Keep-alive, HEAD, 404, redirects ------------------------------------------------ */

static int keepalive_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct ngx n = {0};
    ngx_start(&n);
    cio_http_client *c = plain_client();
    for (int i = 0; i < 100; i++) {
        const void *d;
        size_t l;
        cio_http_reply *r = get_ok(c, url_of(n.port, "http", "/4k.bin"), 200, &d, &l);
        EXPECT_EQ(4096, l);
        cio_http_reply_free(r);
        if (cio_http_client_connections(c) != 1)
            FAIL("request %d: %zu connections", i, cio_http_client_connections(c));
        EXPECT_EQ(1, cio_http_client_idle(c));
    }
    /* nginx's log shows 100 requests on one connection: one $connection
     * number on every line would need a custom format; the client's count
     * above is the check. */
    EXPECT_OK(cio_http_client_free(c));
    ngx_stop(&n);
    return 0;
}

TEST_T(nginx_keepalive, 120)
{
    RUN(keepalive_main, NULL);
}

static int head_404_redirect_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct ngx n = {0};
    ngx_start(&n);
    cio_http_client *c = plain_client();
    cio_http_reply *r;

    /* HEAD: the length of the GET, no body, the connection reused. */
    EXPECT_OK(cio_http_client_request_send(
        c, &CIO_HTTP_CLIENT_REQUEST(.method = "HEAD", .url = url_of(n.port, "http", "/1m.bin")),
        &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_STR_EQ("1048576", cio_http_reply_header(r, "Content-Length"));
    EXPECT_EQ(0, cio_http_reply_content_length(r));
    char b[16];
    EXPECT_EQ(0, cio_http_reply_read(r, b, sizeof b));
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_idle(c));
    const void *d;
    size_t l;
    r = get_ok(c, url_of(n.port, "http", "/1.bin"), 200, &d, &l);
    EXPECT_EQ(1, l);
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));

    /* 404 is a reply, not an error. */
    r = get_ok(c, url_of(n.port, "http", "/missing"), 404, &d, &l);
    EXPECT_STR_EQ("Not Found", cio_http_reply_reason(r));
    EXPECT_TRUE(l > 0 && strstr(d, "404") != NULL);
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));

    /* return 301 /4k.bin (nginx makes the Location absolute). */
    r = get_ok(c, url_of(n.port, "http", "/r"), 200, &d, &l);
    EXPECT_EQ(4096, l);
    EXPECT_TRUE(check_pat(d, l, 0));
    EXPECT_EQ(1, cio_http_reply_redirects(r));
    EXPECT_STR_EQ(url_of(n.port, "http", "/4k.bin"), cio_http_reply_url(r));
    cio_http_reply_free(r);
    /* Two in a row. */
    r = get_ok(c, url_of(n.port, "http", "/r2"), 200, &d, &l);
    EXPECT_EQ(2, cio_http_reply_redirects(r));
    cio_http_reply_free(r);
    /* Not followed. */
    EXPECT_OK(cio_http_client_request_send(
        c, &CIO_HTTP_CLIENT_REQUEST(.url = url_of(n.port, "http", "/r"), .max_redirects = -1), &r));
    EXPECT_EQ(301, cio_http_reply_status(r));
    EXPECT_STR_EQ(url_of(n.port, "http", "/4k.bin"), cio_http_reply_header(r, "Location"));
    EXPECT_EQ(0, cio_http_reply_redirects(r));
    cio_http_reply_free(r);
    /* Fewer allowed than needed. */
    EXPECT_ERR(
        -ELOOP,
        cio_http_client_request_send(
            c, &CIO_HTTP_CLIENT_REQUEST(.url = url_of(n.port, "http", "/r2"), .max_redirects = 1),
            &r));
    EXPECT_OK(cio_http_client_free(c));
    ngx_stop(&n);
    return 0;
}

TEST_T(nginx_head_404_redirect, 120)
{
    RUN(head_404_redirect_main, NULL);
}

/* ---- Many tasks at once ---------------------------------------------------------------- */

struct par {
    cio_http_client *c;
    const char *url;
    size_t max_seen; /* the most connections seen open */
    int ok;
};

static int par_task(void *arg, void **res)
{
    (void)res;
    struct par *p = arg;
    for (int i = 0; i < 5; i++) {
        cio_http_reply *r;
        int rc = cio_http_client_get(p->c, p->url, &r);
        if (rc) return rc;
        size_t n = cio_http_client_connections(p->c);
        if (n > p->max_seen) p->max_seen = n;
        const void *d;
        size_t l;
        rc = cio_http_reply_body(r, 0, &d, &l);
        if (rc == 0 && l == 4096 && check_pat(d, l, 0)) p->ok++;
        cio_http_reply_free(r);
        if (rc) return rc;
    }
    return 0;
}

static int parallel_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct ngx n = {0};
    ngx_start(&n);
    cio_http_client *c =
        client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true, .max_per_host = 8));
    struct par p = {c, url_of(n.port, "http", "/4k.bin"), 0, 0};
    cio_task_group *g;
    EXPECT_OK(cio_task_group_begin(&g));
    for (int i = 0; i < 100; i++)
        EXPECT_OK(cio_task_group_spawn(g, NULL, par_task, &p, NULL));
    EXPECT_OK(cio_task_group_end(g));
    EXPECT_EQ(500, p.ok);
    EXPECT_TRUE(p.max_seen <= 8);
    EXPECT_TRUE(cio_http_client_connections(c) <= 8);
    EXPECT_EQ(cio_http_client_connections(c), cio_http_client_idle(c));
    EXPECT_OK(cio_http_client_free(c));
    /* max_connections (max_per_host follows it). */
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true, .max_connections = 3));
    p = (struct par){c, url_of(n.port, "http", "/4k.bin"), 0, 0};
    EXPECT_OK(cio_task_group_begin(&g));
    for (int i = 0; i < 20; i++)
        EXPECT_OK(cio_task_group_spawn(g, NULL, par_task, &p, NULL));
    EXPECT_OK(cio_task_group_end(g));
    EXPECT_EQ(100, p.ok);
    EXPECT_TRUE(p.max_seen <= 3);
    EXPECT_OK(cio_http_client_free(c));
    ngx_stop(&n);
    return 0;
}

TEST_T(nginx_parallel, 120)
{
    RUN(parallel_main, NULL);
}

/* ---- A cio server behind nginx ------------------------------------------------------- */

struct upstream {
    cio_http_app *app;
    cio_http_server *srv;
    cio_event *go; /* the streaming handler's second half waits for it */
    int port;
};

/* /up/stream: a chunked body in two halves; the second only after the
 * client has read the first (set go), so the client reads the body as it
 * streams. With a trailer nginx drops (it does not pass trailers). */
static int up_stream(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    struct upstream *u = arg;
    EXPECT_OK(cio_http_response_header(res, "Content-Type", "text/plain"));
    EXPECT_OK(cio_http_response_begin(res, -1));
    for (int i = 0; i < 10; i++) {
        char line[64];
        int k = snprintf(line, sizeof line, "first %d\n", i);
        EXPECT_OK(cio_http_response_write(res, line, (size_t)k));
    }
    EXPECT_OK(cio_event_wait(u->go));
    for (int i = 0; i < 10; i++) {
        char line[64];
        int k = snprintf(line, sizeof line, "second %d\n", i);
        EXPECT_OK(cio_http_response_write(res, line, (size_t)k));
    }
    return cio_http_response_end(res);
}

/* /up/trickle: a byte every 20 ms, for as long as anyone reads (bounded:
 * 10 minutes' worth): a body whose every wait is short, which only the
 * request's budget ends. */
static int up_trickle(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    int rc = cio_http_response_begin(res, -1);
    for (int i = 0; rc == 0 && i < 30000; i++) {
        rc = cio_http_response_write(res, "x", 1);
        if (rc == 0) rc = cio_sleep(0.02);
    }
    return rc;
}

/* /via: says whether nginx's forward proxy brought the request, and the
 * target and Host the server saw. */
static int up_via(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char buf[512];
    const char *v = cio_http_request_header(req, "X-Via-Nginx");
    snprintf(buf, sizeof buf, "via=%s target=%s", v ? v : "none", cio_http_request_target(req));
    return cio_http_response_text(res, 200, buf);
}

static void upstream_start(struct upstream *u)
{
    EXPECT_OK(cio_http_app_new(&u->app));
    EXPECT_OK(cio_http_app_route(u->app, "GET", "/up/stream", up_stream, u));
    EXPECT_OK(cio_http_app_route(u->app, "GET", "/via", up_via, u));
    EXPECT_OK(cio_http_app_route(u->app, "GET", "/up/trickle", up_trickle, u));
    EXPECT_OK(cio_event_new(&u->go));
    cio_addr a = loopback4();
    EXPECT_OK(cio_http_server_new(u->app, &a, NULL, &u->srv));
    cio_addr b;
    EXPECT_OK(cio_http_server_addr(u->srv, &b));
    u->port = cio_addr_port(&b);
}

static void upstream_stop(struct upstream *u)
{
    EXPECT_OK(cio_http_server_close(u->srv, 5));
    EXPECT_OK(cio_http_app_free(u->app));
    EXPECT_OK(cio_event_free(u->go));
}

static int chunked_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct upstream u = {0};
    upstream_start(&u);
    struct ngx n = {.up_port = u.port};
    ngx_start(&n);
    cio_http_client *c = plain_client();
    cio_http_reply *r;
    EXPECT_OK(cio_http_client_get(c, url_of(n.port, "http", "/up/stream"), &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_STR_EQ("chunked", cio_http_reply_header(r, "Transfer-Encoding"));
    EXPECT_EQ(-1, cio_http_reply_content_length(r));
    char expect[1024];
    size_t el = 0, half;
    for (int i = 0; i < 10; i++)
        el += (size_t)snprintf(expect + el, sizeof expect - el, "first %d\n", i);
    half = el;
    for (int i = 0; i < 10; i++)
        el += (size_t)snprintf(expect + el, sizeof expect - el, "second %d\n", i);
    /* The first half arrives while the server waits. */
    char got[1024];
    size_t gl = 0;
    while (gl < half) {
        ssize_t k = cio_http_reply_read(r, got + gl, half - gl);
        if (k <= 0) FAIL("first half: %zd (%s)", k, cio_err_name((int)k));
        gl += (size_t)k;
    }
    EXPECT_TRUE(memcmp(got, expect, half) == 0);
    cio_event_set(u.go);
    for (int i = 0; i < 1000; i++) {
        ssize_t k = cio_http_reply_read(r, got + gl, sizeof got - gl);
        EXPECT_TRUE(k >= 0);
        if (k == 0) break;
        gl += (size_t)k;
    }
    EXPECT_EQ(el, gl);
    EXPECT_TRUE(memcmp(got, expect, el) == 0);
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    ngx_stop(&n);
    upstream_stop(&u);
    return 0;
}

TEST_T(nginx_chunked, 120)
{
    RUN(chunked_main, NULL);
}

/* ---- The peer itself ------------------------------------------------------------------ */

/* nginx as configured answers plain requests (raw streams, no client):
 * so that a failure of the cases below is the client's, not the setup's. */
static int setup_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct upstream u = {0};
    upstream_start(&u);
    struct ngx n = {.up_port = u.port, .with_tls = true};
    ngx_start(&n);
    cio_addr a;
    /* HTTPS with the certificate made for it. */
    cio_tls_config *tls;
    EXPECT_OK(cio_tls_config_new(&CIO_TLS_OPTIONS(.ca_file = ngx_path(&n, "cert.pem")), &tls));
    EXPECT_OK(cio_addr_ip("127.0.0.1", (uint16_t)n.tls_port, &a));
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(&a, NULL,
                                 &CIO_STREAM_OPTIONS(.tls = tls, .server_name = "127.0.0.1"), &s));
    struct hres r;
    http_send(s, "GET /1.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(1, r.blen);
    hres_free(&r);
    cio_stream_close(s);
    cio_tls_config_free(tls);
    EXPECT_OK(cio_addr_ip("127.0.0.1", (uint16_t)n.port, &a));
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &s));
    http_send(s, "GET /4k.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(200, r.status);
    EXPECT_EQ(4096, r.blen);
    EXPECT_TRUE(check_pat(r.body, r.blen, 0));
    hres_free(&r);
    http_send(s, "GET /gz/text.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_TRUE(hres_has(&r, "Content-Encoding", "gzip"));
    hres_free(&r);
    cio_event_set(u.go);
    http_send(s, "GET /up/stream HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_TRUE(r.chunked);
    EXPECT_TRUE(strstr(r.body, "second 9\n") != NULL);
    hres_free(&r);
    cio_stream_close(s);
    /* The forward proxy, absolute form. */
    EXPECT_OK(cio_addr_ip("127.0.0.1", (uint16_t)n.proxy_port, &a));
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &s));
    char req[256];
    snprintf(req, sizeof req, "GET http://127.0.0.1:%d/via HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
             u.port, u.port);
    http_send(s, req);
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("via=yes target=/via", r.body);
    hres_free(&r);
    cio_stream_close(s);
    ngx_stop(&n);
    upstream_stop(&u);
    return 0;
}

TEST_T(nginx_setup, 120)
{
    RUN(setup_main, NULL);
}

/* ---- The budget against a trickling body (aiohttp issue 11740) ------------------------- */

static int trickle_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct upstream u = {0};
    upstream_start(&u);
    struct ngx n = {.up_port = u.port};
    ngx_start(&n);
    /* Every wait is short (a byte every 20 ms, read_timeout 60 s): only the
     * budget of 2 s can end the request, and it must. The head normally
     * arrives well within it and the body's reads fail; on a machine slow
     * enough the budget may already end the request itself: both are the
     * budget's end, which is all that is asserted. */
    cio_http_client *c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true, .timeout = 2));
    cio_http_reply *r;
    int rc = cio_http_client_get(c, url_of(n.port, "http", "/up/trickle"), &r);
    if (rc == 0) {
        EXPECT_EQ(200, cio_http_reply_status(r));
        char b[64];
        ssize_t k = 0;
        for (int i = 0; i < 1000000; i++) {
            k = cio_http_reply_read(r, b, sizeof b);
            if (k <= 0) break;
        }
        EXPECT_ERR(-ETIMEDOUT, k);
        /* The error is kept. */
        EXPECT_ERR(-ETIMEDOUT, cio_http_reply_read(r, b, sizeof b));
        const void *d;
        size_t l;
        EXPECT_ERR(-ETIMEDOUT, cio_http_reply_body(r, 0, &d, &l));
        cio_http_reply_free(r);
    } else
        EXPECT_ERR(-ETIMEDOUT, rc);
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    /* cio_http_reply_body the same way, with the request's own budget. */
    c = plain_client();
    rc = cio_http_client_request_send(
        c, &CIO_HTTP_CLIENT_REQUEST(.url = url_of(n.port, "http", "/up/trickle"), .timeout = 1),
        &r);
    if (rc == 0) {
        const void *d;
        size_t l;
        EXPECT_ERR(-ETIMEDOUT, cio_http_reply_body(r, 0, &d, &l));
        cio_http_reply_free(r);
    } else
        EXPECT_ERR(-ETIMEDOUT, rc);
    EXPECT_OK(cio_http_client_free(c));
    ngx_stop(&n);
    upstream_stop(&u);
    return 0;
}

TEST_T(nginx_budget_trickle, 120)
{
    RUN(trickle_main, NULL);
}

/* ---- nginx as a forward proxy ---------------------------------------------------------- */

static int proxy_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct upstream u = {0};
    upstream_start(&u);
    struct ngx n = {0};
    ngx_start(&n);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", n.proxy_port);
    cio_http_client *c = client_new(CIO_HTTP_CLIENT_OPTIONS(.proxy = proxy, .no_env_proxy = true));
    const void *d;
    size_t l;
    for (int i = 0; i < 3; i++) {
        cio_http_reply *r = get_ok(c, url_of(u.port, "http", "/via?x=1"), 200, &d, &l);
        EXPECT_STR_EQ("via=yes target=/via?x=1", d);
        /* The reply names the origin's URL, not the proxy's. */
        EXPECT_STR_EQ(url_of(u.port, "http", "/via?x=1"), cio_http_reply_url(r));
        cio_http_reply_free(r);
    }
    /* Kept alive to the proxy. */
    EXPECT_EQ(1, cio_http_client_connections(c));
    /* nginx's files through nginx's proxy. */
    cio_http_reply *r = get_ok(c, url_of(n.port, "http", "/1m.bin"), 200, &d, &l);
    EXPECT_EQ(1 << 20, l);
    EXPECT_TRUE(check_pat(d, l, 0));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));

    /* The same server without the proxy. */
    c = plain_client();
    r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=none target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    ngx_stop(&n);
    upstream_stop(&u);
    return 0;
}

TEST_T(nginx_forward_proxy, 120)
{
    RUN(proxy_main, NULL);
}

static const char *const proxy_vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                         "no_proxy",   "NO_PROXY",   "all_proxy",   "ALL_PROXY"};

static int env_proxy_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct upstream u = {0};
    upstream_start(&u);
    struct ngx n = {0};
    ngx_start(&n);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", n.proxy_port);
    for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++)
        unsetenv(proxy_vars[i]);
    const void *d;
    size_t l;

    /* http_proxy alone: used. */
    setenv("http_proxy", proxy, 1);
    cio_http_client *c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = false));
    cio_http_reply *r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=yes target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));

    /* The upper-case form too. */
    unsetenv("http_proxy");
    setenv("HTTP_PROXY", proxy, 1);
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = false));
    r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=yes target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    unsetenv("HTTP_PROXY");
    setenv("http_proxy", proxy, 1);

    /* no_proxy=127.0.0.1 bypasses it. */
    setenv("no_proxy", "127.0.0.1", 1);
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = false));
    r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=none target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));

    /* A list with other names, and "*". */
    setenv("no_proxy", "example.org, 127.0.0.1 ,localhost", 1);
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = false));
    r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=none target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    setenv("no_proxy", "*", 1);
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = false));
    r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=none target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    /* no_proxy naming another host: the proxy again. */
    setenv("no_proxy", "example.org", 1);
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = false));
    r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=yes target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));

    /* no_env_proxy ignores them all. */
    unsetenv("no_proxy");
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true));
    r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=none target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    /* https_proxy is not used for http:// URLs. */
    unsetenv("http_proxy");
    setenv("https_proxy", proxy, 1);
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = false));
    r = get_ok(c, url_of(u.port, "http", "/via"), 200, &d, &l);
    EXPECT_STR_EQ("via=none target=/via", d);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    unsetenv("https_proxy");

    ngx_stop(&n);
    upstream_stop(&u);
    return 0;
}

TEST_T(nginx_env_proxy, 120)
{
    RUN(env_proxy_main, NULL);
}

/* ---- HTTPS ------------------------------------------------------------------------------ */

static int https_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct ngx n = {.with_tls = true};
    ngx_start(&n);
    cio_tls_config *tls;
    int rc = cio_tls_config_new(
        &CIO_TLS_OPTIONS(.ca_file = ngx_path(&n, "cert.pem"), .alpn = "http/1.1"), &tls);
    if (rc) FAIL("tls config: %s %s", cio_err_name(rc), cio_tls_last_error());
    cio_http_client *c = client_new(CIO_HTTP_CLIENT_OPTIONS(.tls = tls, .no_env_proxy = true));
    const void *d;
    size_t l;
    for (int i = 0; i < 3; i++) {
        cio_http_reply *r = get_ok(c, url_of(n.tls_port, "https", "/1m.bin"), 200, &d, &l);
        EXPECT_EQ(1 << 20, l);
        EXPECT_TRUE(check_pat(d, l, 0));
        EXPECT_STR_EQ(url_of(n.tls_port, "https", "/1m.bin"), cio_http_reply_url(r));
        cio_http_reply_free(r);
    }
    EXPECT_EQ(1, cio_http_client_connections(c));
    /* The name checked is the URL's host: "localhost" is in the certificate
     * too (a name needs the resolver: only when localhost resolves). */
    /* http and https to the same host and port numbers are separate pools. */
    cio_http_reply *r = get_ok(c, url_of(n.port, "http", "/4k.bin"), 200, &d, &l);
    cio_http_reply_free(r);
    EXPECT_EQ(2, cio_http_client_connections(c));
    /* The system's store does not trust the self-signed certificate. */
    cio_http_client *sys = plain_client();
    rc = cio_http_client_get(sys, url_of(n.tls_port, "https", "/4k.bin"), &r);
    EXPECT_ERR(-EKEYREJECTED, rc);
    EXPECT_TRUE(strstr(cio_tls_last_error(), "verify") != NULL ||
                strstr(cio_tls_last_error(), "certificate") != NULL);
    EXPECT_EQ(0, cio_http_client_connections(sys));
    EXPECT_OK(cio_http_client_free(sys));

    /* gzip over TLS. */
    size_t tl;
    char *text = text_data(&tl);
    r = get_ok(c, url_of(n.tls_port, "https", "/gz/text.txt"), 200, &d, &l);
    EXPECT_STR_EQ("gzip", cio_http_reply_header(r, "Content-Encoding"));
    EXPECT_EQ(tl, l);
    EXPECT_TRUE(memcmp(d, text, tl) == 0);
    cio_http_reply_free(r);
    free(text);
    EXPECT_OK(cio_http_client_free(c));
    cio_tls_config_free(tls);
    ngx_stop(&n);
    return 0;
}

TEST_T(nginx_https, 120)
{
    RUN(https_main, NULL);
}

/* ---- HTTPS through a CONNECT proxy (a cio task) ------------------------------------------ */

struct cproxy {
    cio_server *srv;
    int port;
    int connects;   /* CONNECT requests tunnelled */
    char last[300]; /* the last CONNECT's authority */
    char auth[256]; /* its Proxy-Authorization, if any */
};

struct pipe_arg {
    cio_stream *from, *to;
};

/* Copies from -> to until the end, then shuts to's writing side. */
static int splice_task(void *arg, void **res)
{
    (void)res;
    struct pipe_arg *p = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = cio_stream_read(p->from, buf, sizeof buf);
        if (n <= 0) break;
        if (cio_stream_write(p->to, buf, (size_t)n) != 0) break;
    }
    cio_stream_shutdown(p->to);
    return 0;
}

static int cproxy_conn(cio_stream *s, void *arg)
{
    struct cproxy *cp = arg;
    char head[4096];
    ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head - 1);
    if (n <= 0) return 0;
    head[n] = 0;
    char host[256];
    unsigned port;
    if (sscanf(head, "CONNECT %255[^:]:%u HTTP/1.1\r\n", host, &port) != 2) {
        const char *no =
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        cio_stream_write(s, no, strlen(no));
        return 0;
    }
    snprintf(cp->last, sizeof cp->last, "%s:%u", host, port);
    cp->auth[0] = 0;
    const char *pa = strcasestr(head, "\r\nProxy-Authorization: ");
    if (pa) {
        pa += 23;
        size_t k = strcspn(pa, "\r");
        snprintf(cp->auth, sizeof cp->auth, "%.*s", (int)k, pa);
    }
    cio_stream *up;
    if (cio_stream_connect_name(host, (uint16_t)port, NULL, NULL, &up) != 0) {
        const char *bad = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
        cio_stream_write(s, bad, strlen(bad));
        return 0;
    }
    cp->connects++;
    const char *ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    EXPECT_OK(cio_stream_write(s, ok, strlen(ok)));
    struct pipe_arg down = {up, s}, upw = {s, up};
    cio_task *t;
    EXPECT_OK(cio_spawn(splice_task, &down, &t));
    splice_task(&upw, NULL);
    cio_await(t, NULL);
    cio_future_unref(t);
    cio_stream_close(up);
    return 0;
}

static int connect_main(void *arg, void **res)
{
    (void)arg, (void)res;
    strict_reports();
    struct ngx n = {.with_tls = true};
    ngx_start(&n);
    struct cproxy cp = {0};
    cio_addr a = loopback4();
    EXPECT_OK(cio_server_new(&a, NULL, cproxy_conn, &cp, &cp.srv));
    cio_addr b;
    EXPECT_OK(cio_server_addr(cp.srv, &b));
    cp.port = cio_addr_port(&b);
    cio_tls_config *tls;
    EXPECT_OK(cio_tls_config_new(
        &CIO_TLS_OPTIONS(.ca_file = ngx_path(&n, "cert.pem"), .alpn = "http/1.1"), &tls));
    char proxy[96];
    snprintf(proxy, sizeof proxy, "http://user:pa%%3Ass@127.0.0.1:%d", cp.port);
    cio_http_client *c =
        client_new(CIO_HTTP_CLIENT_OPTIONS(.tls = tls, .proxy = proxy, .no_env_proxy = true));
    const void *d;
    size_t l;
    for (int i = 0; i < 3; i++) {
        cio_http_reply *r = get_ok(c, url_of(n.tls_port, "https", "/1m.bin"), 200, &d, &l);
        EXPECT_EQ(1 << 20, l);
        EXPECT_TRUE(check_pat(d, l, 0));
        EXPECT_STR_EQ(url_of(n.tls_port, "https", "/1m.bin"), cio_http_reply_url(r));
        cio_http_reply_free(r);
    }
    /* One tunnel, kept alive. */
    EXPECT_EQ(1, cp.connects);
    EXPECT_EQ(1, cio_http_client_connections(c));
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", n.tls_port);
    EXPECT_STR_EQ(want, cp.last);
    /* The proxy's credentials go in Proxy-Authorization (Basic user:pa:ss). */
    EXPECT_STR_EQ("Basic dXNlcjpwYTpzcw==", cp.auth);
    EXPECT_OK(cio_http_client_free(c));

    /* Through the tunnel the origin's certificate is still verified. */
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.proxy = proxy, .no_env_proxy = true));
    cio_http_reply *r;
    EXPECT_ERR(-EKEYREJECTED, cio_http_client_get(c, url_of(n.tls_port, "https", "/4k.bin"), &r));
    EXPECT_EQ(2, cp.connects);
    EXPECT_OK(cio_http_client_free(c));

    /* https_proxy from the environment; no_proxy bypasses it. */
    for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++)
        unsetenv(proxy_vars[i]);
    setenv("https_proxy", proxy, 1);
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.tls = tls));
    r = get_ok(c, url_of(n.tls_port, "https", "/4k.bin"), 200, &d, &l);
    EXPECT_EQ(4096, l);
    cio_http_reply_free(r);
    EXPECT_EQ(3, cp.connects);
    EXPECT_OK(cio_http_client_free(c));
    setenv("no_proxy", "127.0.0.1", 1);
    c = client_new(CIO_HTTP_CLIENT_OPTIONS(.tls = tls));
    r = get_ok(c, url_of(n.tls_port, "https", "/4k.bin"), 200, &d, &l);
    cio_http_reply_free(r);
    EXPECT_EQ(3, cp.connects);
    EXPECT_OK(cio_http_client_free(c));
    unsetenv("https_proxy");
    unsetenv("no_proxy");

    cio_tls_config_free(tls);
    EXPECT_OK(cio_server_close(cp.srv, 5));
    ngx_stop(&n);
    return 0;
}

TEST_T(nginx_https_connect_proxy, 120)
{
    RUN(connect_main, NULL);
}

int main(int argc, char **argv)
{
    if (access("/usr/sbin/nginx", X_OK) == 0)
        nginx_bin = "/usr/sbin/nginx";
    else if (!peer_have("nginx")) {
        printf("skipped: nginx is not installed\n");
        return 77;
    }
    if (!peer_have("openssl")) {
        printf("skipped: openssl is not installed\n");
        return 77;
    }
    /* No case may use a proxy of the machine's environment by accident. */
    for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++)
        unsetenv(proxy_vars[i]);
    return test_main(argc, argv);
}
