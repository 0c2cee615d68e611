/* A hostile reading of the static file server (src/http/static.c,
 * static_parse.c, mime.c): every way out of the root we could think of,
 * through the openat2 path and (cases named *_walk, openat2 refused by a
 * seccomp filter) through the walking fallback; Range, preconditions,
 * HEAD, the listing's escaping, the redirect to the '/' form. Each case
 * asserts the refusal (or the right answer), and descriptors back to the
 * baseline. */
#include <arpa/inet.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>

#include "http/static.h"
#include "test.h"

/* ---- The tree -------------------------------------------------------------- */

struct tree {
    char base[64], root[96];
};
static struct tree T;

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", T.base, rel);
    FILE *f = fopen(p, "w");
    if (!f) FAIL("fopen %s: %s", p, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static const char *at(const char *rel)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", T.base, rel);
    return p;
}

/* base/outside.txt and base/outdir/ hold "secret"; base/root is served. */
static void make_tree(void)
{
    strcpy(T.base, "/tmp/cio-revstatic-XXXXXX");
    if (!mkdtemp(T.base)) FAIL("mkdtemp: %s", strerror(errno));
    snprintf(T.root, sizeof T.root, "%s/root", T.base);
    EXPECT_OK(mkdir(at("root"), 0755));
    EXPECT_OK(mkdir(at("outdir"), 0755));
    put("outside.txt", "secret");
    put("outdir/f.txt", "secret");
    put("outdir/index.html", "secret");
    put("root/a.txt", "hello");
    put("root/empty.txt", "");
    put("root/X.HTML", "<p>upper</p>");
    EXPECT_OK(mkdir(at("root/sub"), 0755));
    put("root/sub/f.txt", "inner");
    /* A symlinked directory in the middle of the path, out of the root. */
    EXPECT_OK(symlink("../outdir", at("root/mid")));
    /* A symlinked directory in the middle, inside, whose target climbs. */
    EXPECT_OK(symlink("sub/../../outdir", at("root/mid_up")));
    /* The precompressed sibling is a symlink out of the root. */
    put("root/plain.txt", "plain");
    EXPECT_OK(symlink("../outside.txt", at("root/plain.txt.gz")));
    EXPECT_OK(symlink("/etc/passwd", at("root/a.txt.gz")));
    /* The index file is a symlink out. */
    EXPECT_OK(mkdir(at("root/d"), 0755));
    EXPECT_OK(symlink("../../outdir/index.html", at("root/d/index.html")));
    EXPECT_OK(mkdir(at("root/d2"), 0755));
    EXPECT_OK(symlink("/etc/passwd", at("root/d2/index.html")));
    /* A directory whose index is a symlinked directory out. */
    EXPECT_OK(mkdir(at("root/d3"), 0755));
    EXPECT_OK(symlink("../../outdir", at("root/d3/index.html")));
    /* A FIFO and a device file. */
    EXPECT_OK(mkfifo(at("root/fifo"), 0644));
    if (mknod(at("root/null"), S_IFCHR | 0666, makedev(1, 3)) != 0) put("root/null", "nodev");
    /* A directory named like a host: "//evil.example" must not redirect
     * to a protocol-relative URL. */
    EXPECT_OK(mkdir(at("root/evil.example"), 0755));
    /* Names the listing must escape. */
    EXPECT_OK(mkdir(at("root/list"), 0755));
    put("root/list/<script>alert(1)<", "x");
    put("root/list/a&b", "x");
    put("root/list/q\"uo'te", "x");
    put("root/list/new\nline", "x");
    EXPECT_OK(mkdir(at("root/list/<i>&"), 0755));
}

static void remove_tree(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", T.base);
    EXPECT_OK(system(cmd));
}

/* ---- openat2 refused (a kernel before 5.6) ------------------------------------ */

#if defined(__x86_64__)
#define TEST_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_ARCH AUDIT_ARCH_AARCH64
#endif

static void refuse_openat2(void)
{
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fp = {.len = sizeof prog / sizeof prog[0], .filter = prog};
    EXPECT_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    EXPECT_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp));
}

/* ---- A server on 127.0.0.1, the client in a pool thread ----------------------- */

struct e2e;
typedef void (*client_fn)(struct e2e *);
struct e2e {
    cio_http_app *app;
    uint16_t port;
    client_fn client;
};

static int client_thread(void *arg, void **result)
{
    (void)result;
    struct e2e *e = arg;
    e->client(e);
    return 0;
}

static int serve_main(void *arg, void **result)
{
    (void)result;
    struct e2e *e = arg;
    cio_loop_set_report_handler(cio_current_loop(), test_fail_on_report, NULL);
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    cio_http_server *srv = NULL;
    EXPECT_OK(cio_http_server_new(e->app, &a, NULL, &srv));
    EXPECT_OK(cio_http_server_addr(srv, &a));
    e->port = cio_addr_port(&a);
    EXPECT_OK(cio_to_thread(client_thread, e, NULL));
    EXPECT_OK(cio_http_server_close(srv, 5));
    cio_scope_end(&sc);
    return 0;
}

static void serve(const char *prefix, const cio_http_static_options *opts, client_fn fn)
{
    int before = test_fd_baseline();
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_static(app, prefix, T.root, opts));
    struct e2e e = {.app = app, .client = fn};
    EXPECT_OK(cio_run(serve_main, &e, NULL));
    EXPECT_OK(cio_http_app_free(app));
    EXPECT_EQ(before, test_fd_count());
}

struct resp {
    int status;
    char raw[1 << 16];
    size_t len;
    char *body;
    size_t body_len;
};

static void exchange(struct e2e *e, const char *request, size_t n, struct resp *r)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(e->port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EXPECT_OK(connect(fd, (struct sockaddr *)&sin, sizeof sin));
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_EQ(n, send(fd, request, n, MSG_NOSIGNAL));
    r->len = 0;
    for (;;) {
        EXPECT_TRUE(r->len < sizeof r->raw - 1);
        ssize_t k = recv(fd, r->raw + r->len, sizeof r->raw - 1 - r->len, 0);
        if (k < 0) FAIL("recv: %s", strerror(errno));
        if (k == 0) break;
        r->len += (size_t)k;
    }
    close(fd);
    r->raw[r->len] = '\0';
    r->status = 0;
    if (r->len < 12 || sscanf(r->raw, "HTTP/1.1 %d", &r->status) != 1)
        FAIL("not a response: %s", r->raw);
    char *end = strstr(r->raw, "\r\n\r\n");
    EXPECT_TRUE(end != NULL);
    r->body = end + 4;
    r->body_len = r->len - (size_t)(r->body - r->raw);
}

static struct resp *req(struct e2e *e, const char *method, const char *path, const char *headers)
{
    static struct resp r;
    static char buf[16384];
    int n = snprintf(buf, sizeof buf, "%s %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n",
                     method, path, headers ? headers : "");
    EXPECT_TRUE(n > 0 && (size_t)n < sizeof buf);
    exchange(e, buf, (size_t)n, &r);
    return &r;
}

static const char *hdr(struct resp *r, const char *name)
{
    static char val[512];
    size_t nl = strlen(name);
    for (char *p = strstr(r->raw, "\r\n"); p && p < r->body - 2; p = strstr(p + 2, "\r\n")) {
        char *l = p + 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            char *end = strstr(v, "\r\n");
            size_t vl = (size_t)(end - v);
            if (vl >= sizeof val) vl = sizeof val - 1;
            memcpy(val, v, vl);
            val[vl] = '\0';
            return val;
        }
    }
    return NULL;
}

#define NO_SECRET(r)                                                                               \
    do {                                                                                           \
        EXPECT_TRUE(memmem((r)->raw, (r)->len, "secret", 6) == NULL);                             \
        EXPECT_TRUE(memmem((r)->raw, (r)->len, "root:", 5) == NULL);                              \
    } while (0)

/* ---- Traversal ------------------------------------------------------------------- */

static void escape_client(struct e2e *e)
{
    static const char *const paths[] = {
        /* Encoded and double-encoded dots and slashes. */
        "/%2e%2e/outside.txt", "/.%2e/outside.txt", "/%2e./outside.txt", "/%2E%2e/outside.txt",
        "/%252e%252e/outside.txt", "/%252e%252e%252foutside.txt", "/..%252foutside.txt",
        "/%2f..%2foutside.txt", "/%2F%2E%2E%2Foutside.txt", "/sub/..%2F..%2Foutside.txt",
        "/sub%2f%2e%2e%2f%2e%2e%2foutside.txt",
        /* Overlong UTF-8 for '.' and '/', and a full-width dot. */
        "/%c0%ae%c0%ae/outside.txt", "/%c0%ae%c0%ae%c0%afoutside.txt", "/%e0%80%ae%e0%80%ae/outside.txt",
        "/%ef%bc%8e%ef%bc%8e/outside.txt",
        /* Doubled slashes around "..". */
        "//../outside.txt", "/sub//..//..//outside.txt", "///%2e%2e///outside.txt",
        "/sub/./../../outside.txt",
        /* NUL, raw and encoded, single and double. */
        "/a.txt%00", "/a.txt%00.html", "/%2500", "/%00../outside.txt",
        /* Backslashes, raw, encoded, double-encoded. */
        "/..\\outside.txt", "/%5c..%5coutside.txt", "/%5C%2e%2e%5Coutside.txt",
        "/..%255coutside.txt",
        /* Symlinked directory in the middle, out of the root. */
        "/mid/f.txt", "/mid/", "/mid", "/mid_up/f.txt", "/mid/index.html",
        /* The index file a symlink out (a file, an absolute, a directory). */
        "/d/", "/d/index.html", "/d2/", "/d2/index.html", "/d3/", "/d3/index.html/f.txt",
        /* A FIFO, a device. */
        "/fifo", "/null",
        /* Absolute form. */
        "http://t/../outside.txt", "http://t/%2e%2e/outside.txt",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct resp *r = req(e, "GET", paths[i], NULL);
        /* A directory whose index leads out may be listed instead. */
        size_t pl = strlen(paths[i]);
        bool dir = paths[i][pl - 1] == '/';
        if (r->status != 404 && r->status != 400 && r->status != 403 && !(dir && r->status == 200))
            FAIL("%s: %d\n%s", paths[i], r->status, r->raw);
        NO_SECRET(r);
    }
    /* A raw NUL in the request line: the parser's 400. */
    static const char nul[] = "GET /a.txt\0.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    struct resp *r = req(e, "GET", "/a.txt", NULL);
    EXPECT_EQ(200, r->status);
    static struct resp rn;
    exchange(e, nul, sizeof nul - 1, &rn);
    EXPECT_EQ(400, rn.status);
    /* The precompressed sibling a symlink out: the plain file, never the
     * target. */
    r = req(e, "GET", "/plain.txt", "Accept-Encoding: gzip\r\n");
    EXPECT_EQ(200, r->status);
    NO_SECRET(r);
    EXPECT_PTR_EQ(NULL, hdr(r, "Content-Encoding"));
    r = req(e, "GET", "/a.txt", "Accept-Encoding: gzip\r\n");
    EXPECT_EQ(200, r->status);
    NO_SECRET(r);
    /* Very long paths: refused (404, 414 or 431), never a crash. */
    static char lp[12000];
    size_t o = 0;
    while (o < 9000) {
        memcpy(lp + o, "/sub", 4);
        o += 4;
    }
    lp[o] = '\0';
    r = req(e, "GET", lp, NULL);
    EXPECT_TRUE(r->status == 404 || r->status == 414 || r->status == 431);
    o = 0;
    lp[o++] = '/';
    while (o < 5000)
        lp[o++] = 'a';
    lp[o] = '\0';
    r = req(e, "GET", lp, NULL);
    EXPECT_TRUE(r->status == 404 || r->status == 414 || r->status == 431);
    /* The server still serves afterwards. */
    r = req(e, "GET", "/sub/f.txt", NULL);
    EXPECT_EQ(200, r->status);
}

TEST(review_escapes)
{
    make_tree();
    serve("/", NULL, escape_client);
    serve("/", &CIO_HTTP_STATIC_OPTIONS(.follow_symlinks = true), escape_client);
    serve("/", &CIO_HTTP_STATIC_OPTIONS(.follow_symlinks = true, .listing = true), escape_client);
    remove_tree();
}

TEST(review_escapes_walk)
{
    refuse_openat2();
    make_tree();
    serve("/", NULL, escape_client);
    serve("/", &CIO_HTTP_STATIC_OPTIONS(.follow_symlinks = true), escape_client);
    serve("/", &CIO_HTTP_STATIC_OPTIONS(.follow_symlinks = true, .listing = true), escape_client);
    EXPECT_TRUE(cio__http_static_walking());
    remove_tree();
}

/* Mounted under a sub-application: the same escapes under its prefix. */
static void mounted_escape_client(struct e2e *e)
{
    static const char *const paths[] = {
        "/api/files/../../outside.txt", "/api/files/%2e%2e/outside.txt",
        "/api/files/%2e%2e%2f%2e%2e%2foutside.txt", "/api/%2e%2e/files/%2e%2e/outside.txt",
        "/api/files/mid/f.txt", "/api/files/..%5coutside.txt", "/api/files//../outside.txt",
        /* Encoded slashes across the mount and the prefix. */
        "/api/files%2F..%2F..%2Foutside.txt", "/api%2Ffiles/%2e%2e/outside.txt",
        "/api%2F..%2Foutside.txt", "//api//files//..//..//outside.txt",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct resp *r = req(e, "GET", paths[i], NULL);
        if (r->status != 404 && r->status != 400) FAIL("%s: %d", paths[i], r->status);
        NO_SECRET(r);
    }
    struct resp *r = req(e, "GET", "/api/files/a.txt", NULL);
    EXPECT_EQ(200, r->status);
}

static void mounted(void)
{
    int before = test_fd_baseline();
    cio_http_app *app, *sub;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_new(&sub));
    EXPECT_OK(cio_http_app_static(sub, "/files", T.root,
                                  &CIO_HTTP_STATIC_OPTIONS(.follow_symlinks = true)));
    EXPECT_OK(cio_http_app_mount(app, "/api", sub));
    struct e2e e = {.app = app, .client = mounted_escape_client};
    EXPECT_OK(cio_run(serve_main, &e, NULL));
    EXPECT_OK(cio_http_app_free(app));
    EXPECT_EQ(before, test_fd_count());
}

TEST(review_escapes_mounted)
{
    make_tree();
    mounted();
    remove_tree();
}

TEST(review_escapes_mounted_walk)
{
    refuse_openat2();
    make_tree();
    mounted();
    remove_tree();
}

/* TOCTOU: "swap" is exchanged (renameat2 RENAME_EXCHANGE) between a
 * directory inside the root and a symlink to a directory outside, as fast
 * as a thread can, while the resolver opens "swap/f.txt": never the
 * secret, whatever the interleaving. */
static atomic_bool swapping;

static void *swapper(void *arg)
{
    (void)arg;
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/root/swap", T.base);
    snprintf(b, sizeof b, "%s/root/swap_alt", T.base);
    while (atomic_load(&swapping))
        syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */);
    return NULL;
}

static void toctou(int (*fn)(int, const char *, int, bool))
{
    EXPECT_OK(mkdir(at("root/swap"), 0755));
    put("root/swap/f.txt", "inner");
    EXPECT_OK(symlink("../../outdir", at("root/swap_alt")));
    int root = open(T.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    EXPECT_TRUE(root >= 0);
    int before = test_fd_count();
    atomic_store(&swapping, true);
    pthread_t th;
    EXPECT_OK(pthread_create(&th, NULL, swapper, NULL));
    int served = 0;
    for (int i = 0; i < 20000; i++) {
        int fd = fn(root, "swap/f.txt", O_RDONLY | O_NONBLOCK, i & 1);
        if (fd < 0) continue;
        char buf[16] = {0};
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        EXPECT_TRUE(n >= 0);
        if (strcmp(buf, "secret") == 0) FAIL("escaped the root on try %d", i);
        served++;
    }
    atomic_store(&swapping, false);
    EXPECT_OK(pthread_join(th, NULL));
    EXPECT_TRUE(served > 0);
    close(root);
    EXPECT_EQ(before - 1, test_fd_count());
}

TEST(review_toctou_swap)
{
    make_tree();
    toctou(cio__http_static_open);
    remove_tree();
}

TEST(review_toctou_swap_walk)
{
    make_tree();
    toctou(cio__http_static_open_walk);
    remove_tree();
}

/* ---- The '/' redirect ------------------------------------------------------------ */

/* "GET //evil.example" names the directory root/evil.example without its
 * '/': the 301 must not say "Location: //evil.example/", which a browser
 * reads as another host (the open redirect of Python's http.server,
 * CVE-2021-28861). */
static void redirect_client(struct e2e *e)
{
    static const char *const paths[] = {"//evil.example", "///evil.example", "//evil.example?x=1"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct resp *r = req(e, "GET", paths[i], NULL);
        if (r->status == 301 || r->status == 302 || r->status == 308) {
            const char *loc = hdr(r, "Location");
            EXPECT_TRUE(loc != NULL);
            if (loc[0] != '/' || loc[1] == '/' || loc[1] == '\\')
                FAIL("%s: Location %s", paths[i], loc);
        }
    }
    struct resp *r = req(e, "GET", "/evil.example", NULL);
    EXPECT_EQ(301, r->status);
    EXPECT_STR_EQ("/evil.example/", hdr(r, "Location"));
}

TEST(review_redirect_not_open)
{
    make_tree();
    serve("/", NULL, redirect_client);
    remove_tree();
}

/* ---- Range, preconditions, HEAD ------------------------------------------------------ */

static void range_client(struct e2e *e)
{
    /* An empty file: RFC 9110 14.1.1, only a suffix range with a non-zero
     * length is satisfiable; it cannot be expressed in a Content-Range, so
     * the Range is ignored (200, empty), never 416. "bytes=0-" is not
     * satisfiable: 416. */
    struct resp *r = req(e, "GET", "/empty.txt", "Range: bytes=-5\r\n");
    EXPECT_EQ(200, r->status);
    EXPECT_EQ(0, r->body_len);
    EXPECT_STR_EQ("0", hdr(r, "Content-Length"));
    r = req(e, "GET", "/empty.txt", "Range: bytes=0-\r\n");
    EXPECT_EQ(416, r->status);
    EXPECT_STR_EQ("bytes */0", hdr(r, "Content-Range"));
    r = req(e, "GET", "/empty.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_STR_EQ("0", hdr(r, "Content-Length"));
    /* "hello" (5 bytes). */
    r = req(e, "GET", "/a.txt", "Range: bytes=-0\r\n");
    EXPECT_EQ(416, r->status);
    EXPECT_STR_EQ("bytes */5", hdr(r, "Content-Range"));
    r = req(e, "GET", "/a.txt", "Range: bytes=0-\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_STR_EQ("bytes 0-4/5", hdr(r, "Content-Range"));
    r = req(e, "GET", "/a.txt", "Range: bytes=-100\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_STR_EQ("bytes 0-4/5", hdr(r, "Content-Range"));
    r = req(e, "GET", "/a.txt", "Range: bytes=1-99999999999999999999999999\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_STR_EQ("bytes 1-4/5", hdr(r, "Content-Range"));
    r = req(e, "GET", "/a.txt", "Range: bytes=18446744073709551616-\r\n");
    EXPECT_EQ(416, r->status);
    r = req(e, "GET", "/a.txt", "Range: bytes=-18446744073709551616\r\n");
    EXPECT_EQ(206, r->status);
    r = req(e, "GET", "/a.txt", "Range: bytes=3-2\r\n");
    EXPECT_EQ(200, r->status);
    /* Many ranges: 200 whole, never 64 parts. */
    char many[2048] = "Range: bytes=";
    for (int i = 0; i < 64; i++)
        strcat(many, i ? ",0-0" : "0-0");
    strcat(many, "\r\n");
    r = req(e, "GET", "/a.txt", many);
    EXPECT_EQ(200, r->status);
    EXPECT_EQ(5, r->body_len);
    /* If-Range with a weak tag never applies the range. */
    r = req(e, "GET", "/a.txt", NULL);
    char etag[128];
    snprintf(etag, sizeof etag, "%s", hdr(r, "ETag"));
    char h[512];
    snprintf(h, sizeof h, "Range: bytes=0-1\r\nIf-Range: W/%s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(200, r->status);
    EXPECT_EQ(5, r->body_len);
    snprintf(h, sizeof h, "Range: bytes=0-1\r\nIf-Range: %s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(206, r->status);
    EXPECT_EQ(2, r->body_len);
    /* 412 before 304: If-Match fails, If-None-Match would match. */
    snprintf(h, sizeof h, "If-Match: \"nope\"\r\nIf-None-Match: %s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(412, r->status);
    snprintf(h, sizeof h,
             "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\nIf-None-Match: %s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(412, r->status);
    snprintf(h, sizeof h, "If-Match: %s\r\nIf-None-Match: %s\r\n", etag, etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(304, r->status);
    EXPECT_EQ(0, r->body_len);
    /* A list split over several field lines is one list (RFC 9110 5.3):
     * our tag on the second If-Match line holds, on the second
     * If-None-Match line gives a 304. */
    snprintf(h, sizeof h, "If-Match: \"nope\"\r\nIf-Match: %s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(200, r->status);
    snprintf(h, sizeof h, "If-None-Match: \"nope\"\r\nIf-None-Match: %s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(304, r->status);
    snprintf(h, sizeof h, "If-Match: \"nope\"\r\nIf-Match: \"nope2\"\r\n");
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(412, r->status);
    /* A 304 beats a Range. */
    snprintf(h, sizeof h, "If-None-Match: %s\r\nRange: bytes=0-0\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(304, r->status);
    /* HEAD: the lengths of GET, no body. */
    r = req(e, "HEAD", "/a.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_STR_EQ("5", hdr(r, "Content-Length"));
    EXPECT_EQ(0, r->body_len);
    r = req(e, "HEAD", "/a.txt", "Range: bytes=1-2\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_STR_EQ("2", hdr(r, "Content-Length"));
    EXPECT_EQ(0, r->body_len);
    r = req(e, "HEAD", "/a.txt", "Range: bytes=0-0,2-3\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_EQ(0, r->body_len);
    char cl[32];
    snprintf(cl, sizeof cl, "%s", hdr(r, "Content-Length"));
    r = req(e, "GET", "/a.txt", "Range: bytes=0-0,2-3\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_EQ(strtoull(cl, NULL, 10), r->body_len);
    r = req(e, "HEAD", "/empty.txt", NULL);
    EXPECT_STR_EQ("0", hdr(r, "Content-Length"));
    /* MIME by an upper-case extension. */
    r = req(e, "GET", "/X.HTML", NULL);
    EXPECT_STR_EQ("text/html; charset=utf-8", hdr(r, "Content-Type"));
}

TEST(review_ranges_conditions_head)
{
    make_tree();
    serve("/", NULL, range_client);
    remove_tree();
}

TEST(review_range_parser)
{
    struct cio__http_range r[4];
    size_t n;
    EXPECT_EQ(CIO__HTTP_RANGE_NONE, cio__http_parse_range("bytes=-0", 10, r, 4, &n));
    EXPECT_EQ(CIO__HTTP_RANGE_NONE, cio__http_parse_range("bytes=0-", 0, r, 4, &n));
    /* Satisfiable on an empty file, but not expressible: not 416. */
    EXPECT_TRUE(cio__http_parse_range("bytes=-1", 0, r, 4, &n) != CIO__HTTP_RANGE_NONE);
    EXPECT_EQ(CIO__HTTP_RANGE_OK, cio__http_parse_range("bytes=-99", 10, r, 4, &n));
    EXPECT_EQ(0, r[0].first);
    EXPECT_EQ(9, r[0].last);
    EXPECT_EQ(CIO__HTTP_RANGE_WHOLE,
              cio__http_parse_range("bytes=0-0,1-1,2-2,3-3,4-4", 10, r, 4, &n));
    EXPECT_FALSE(cio__http_if_range("W/\"1-2-3\"", "\"1-2-3\"", 0));
    EXPECT_TRUE(cio__http_if_range("\"1-2-3\"", "\"1-2-3\"", 0));
    EXPECT_STR_EQ("text/html; charset=utf-8", cio_http_mime_type("/A/B.HtMl"));
    EXPECT_STR_EQ("image/png", cio_http_mime_type("LOGO.PNG"));
}

/* ---- The listing ------------------------------------------------------------------ */

static void listing_client(struct e2e *e)
{
    struct resp *r = req(e, "GET", "/list/", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_TRUE(memmem(r->body, r->body_len, "<script>", 8) == NULL);
    EXPECT_TRUE(memmem(r->body, r->body_len, "&lt;script&gt;alert(1)&lt;", 26) != NULL);
    EXPECT_TRUE(memmem(r->body, r->body_len, "a&amp;b", 7) != NULL);
    EXPECT_TRUE(memmem(r->body, r->body_len, "q&quot;uo&#39;te", 16) != NULL);
    EXPECT_TRUE(memmem(r->body, r->body_len, "href=\"new%0Aline\"", 17) != NULL);
    EXPECT_TRUE(memmem(r->body, r->body_len, "href=\"q%22uo%27te\"", 18) != NULL);
    EXPECT_TRUE(memmem(r->body, r->body_len, "href=\"%3Ci%3E%26/\">&lt;i&gt;&amp;/<",
                             strlen("href=\"%3Ci%3E%26/\">&lt;i&gt;&amp;/<")) != NULL);
    /* The title escapes the request path too. */
    r = req(e, "GET", "/list/%3Ci%3E%26/", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_TRUE(memmem(r->body, r->body_len, "<i>", 3) == NULL);
    EXPECT_TRUE(memmem(r->body, r->body_len, "Index of /list/&lt;i&gt;&amp;/<",
                             strlen("Index of /list/&lt;i&gt;&amp;/<")) != NULL);
    r = req(e, "GET", "/list/%3Cx%3E/", NULL);
    EXPECT_EQ(404, r->status);
    /* Symlinks out are not listed (follow off), nor their targets. */
    r = req(e, "GET", "/", NULL);
    EXPECT_EQ(200, r->status);
    NO_SECRET(r);
}

TEST(review_listing_escapes)
{
    make_tree();
    serve("/", &CIO_HTTP_STATIC_OPTIONS(.listing = true, .index = ""), listing_client);
    remove_tree();
}

/* ---- A file that shrinks while it is sent -------------------------------------- */

/* The server promised Content-Length from fstat; the file is truncated
 * after the first bytes went out: the connection must close (not hang,
 * not pad), the descriptors come back, and the failure is reported once
 * at most (a read error of the server's own file is worth a report). */
static atomic_int reports;

static void count_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    (void)msg;
    atomic_fetch_add(&reports, 1);
}

static int shrink_main(void *arg, void **result)
{
    (void)result;
    struct e2e *e = arg;
    cio_loop_set_report_handler(cio_current_loop(), count_report, NULL);
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    cio_http_server *srv = NULL;
    EXPECT_OK(cio_http_server_new(e->app, &a, NULL, &srv));
    EXPECT_OK(cio_http_server_addr(srv, &a));
    e->port = cio_addr_port(&a);
    EXPECT_OK(cio_to_thread(client_thread, e, NULL));
    EXPECT_OK(cio_http_server_close(srv, 5));
    cio_scope_end(&sc);
    return 0;
}

#define BIG (32u << 20)

static void shrink_client(struct e2e *e)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(fd >= 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(e->port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EXPECT_OK(connect(fd, (struct sockaddr *)&sin, sizeof sin));
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static const char rq[] = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    EXPECT_EQ(sizeof rq - 1, send(fd, rq, sizeof rq - 1, MSG_NOSIGNAL));
    static char buf[65536];
    ssize_t k = recv(fd, buf, sizeof buf, 0);
    EXPECT_TRUE(k > 0);
    EXPECT_TRUE(memmem(buf, (size_t)k, "Content-Length: 33554432", 24) != NULL);
    EXPECT_OK(truncate(at("root/big.bin"), 1000));
    uint64_t total = (uint64_t)k;
    for (;;) {
        k = recv(fd, buf, sizeof buf, 0);
        if (k < 0) FAIL("recv: %s (a hang?)", strerror(errno));
        if (k == 0) break;
        total += (uint64_t)k;
    }
    EXPECT_TRUE(total < BIG);
    close(fd);
}

TEST(review_file_shrinks_while_sent)
{
    make_tree();
    int fd = open(at("root/big.bin"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_TRUE(fd >= 0);
    EXPECT_OK(ftruncate(fd, BIG));
    close(fd);
    int before = test_fd_baseline();
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_static(app, "/", T.root, NULL));
    struct e2e e = {.app = app, .client = shrink_client};
    EXPECT_OK(cio_run(shrink_main, &e, NULL));
    EXPECT_OK(cio_http_app_free(app));
    EXPECT_EQ(before, test_fd_count());
    EXPECT_TRUE(atomic_load(&reports) <= 1);
    remove_tree();
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
