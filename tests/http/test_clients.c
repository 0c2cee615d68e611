/* The HTTP server with real clients, started by the test on loopback:
 * curl (HTTP and HTTPS with a certificate made by tests/net/tls-certs.sh,
 * --http1.0, HEAD, uploads with -T (a file, and stdin chunked) and -F,
 * several URLs on one connection), Python's http.client and requests, and
 * wrk for a few seconds (no errors, some requests). The server is the echo
 * server of http_test_util.h: it answers "m=.. t=.. v=.. n=<body length>"
 * and the body. Exits 77 (skip) when a peer program is missing. */
#include "http_test_util.h"
#include "peer_util.h"

#ifndef CIO_TEST_TLS_CERTS
#define CIO_TEST_TLS_CERTS "tests/net/tls-certs.sh"
#endif

static void client_opts(struct tsrv *s)
{
    s->opts.max_body_size = 8u << 20;
}

static char *url(uint16_t port, const char *scheme, const char *path)
{
    char *u = malloc(256);
    snprintf(u, 256, "%s://%s:%u%s", scheme, strcmp(scheme, "https") ? "127.0.0.1" : "localhost",
             port, path);
    return u;
}

/* A file of n bytes (a repeating pattern) in a temporary directory. */
static void make_file(char *path, size_t len, size_t n)
{
    snprintf(path, len, "/tmp/cio-http-up-XXXXXX");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        FAIL("mkostemp: %s", strerror(errno));
    char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)('a' + i % 26);
    for (size_t off = 0; off < n;) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        if (write(fd, buf, k) != (ssize_t)k)
            FAIL("write: %s", strerror(errno));
        off += k;
    }
    close(fd);
}

#define RUN(out, ...)                                                                             \
    do {                                                                                          \
        char *argv_[] = {__VA_ARGS__, NULL};                                                      \
        int rc_ = peer_run(argv_, NULL, 120, &(out));                                             \
        if (rc_ != 0)                                                                             \
            FAIL("%s exited %d: %s", argv_[0], rc_, out);                                         \
    } while (0)

#define EXPECT_HAS(hay, needle)                                                                   \
    do {                                                                                          \
        if (!strstr((hay), (needle)))                                                             \
            FAIL("expected \"%s\" in output:\n%s", (needle), (hay));                              \
    } while (0)

TEST(curl_get_and_keepalive)
{
    int base = test_fd_baseline();
    struct tsrv s = {0};
    client_opts(&s);
    tsrv_start(&s);
    char *u1 = url(s.port, "http", "/one?x=1"), *u2 = url(s.port, "http", "/two"),
         *u3 = url(s.port, "http", "/three");
    char *out;
    /* Three URLs in one run: curl reuses the connection. */
    RUN(out, "curl", "-sS", "-v", "--http1.1", u1, u2, u3);
    EXPECT_HAS(out, "m=GET t=/one?x=1 v=1 n=0");
    EXPECT_HAS(out, "t=/two");
    EXPECT_HAS(out, "t=/three");
    EXPECT_HAS(out, "Re-using existing connection");
    free(out);
    /* HEAD: headers only. */
    RUN(out, "curl", "-sS", "-I", u1);
    EXPECT_HAS(out, "HTTP/1.1 200");
    EXPECT_TRUE(strstr(out, "m=HEAD") == NULL);
    free(out);
    /* HTTP/1.0. */
    RUN(out, "curl", "-sS", "-i", "--http1.0", u2);
    EXPECT_HAS(out, "v=0");
    EXPECT_HAS(out, "HTTP/1.");
    free(out);
    free(u1), free(u2), free(u3);
    EXPECT_EQ(0, tsrv_stop(&s));
    EXPECT_EQ(base, test_fd_count());
}

TEST(curl_uploads)
{
    int base = test_fd_baseline();
    struct tsrv s = {0};
    client_opts(&s);
    tsrv_start(&s);
    char file[64];
    make_file(file, sizeof file, 3 << 20); /* over curl's 1 MiB Expect threshold */
    char *u = url(s.port, "http", "/up");
    char *out;
    char want[64];
    /* -T file: PUT with Content-Length (and Expect: 100-continue). */
    RUN(out, "curl", "-sS", "-T", file, u);
    snprintf(want, sizeof want, "m=PUT t=/up v=1 n=%d\n", 3 << 20);
    EXPECT_HAS(out, want);
    free(out);
    /* -T - : stdin, sent chunked. */
    {
        char *argv[] = {"curl", "-sS", "-T", "-", u, NULL};
        int rc = peer_run(argv, file, 120, &out);
        if (rc != 0)
            FAIL("curl -T - exited %d: %s", rc, out);
        snprintf(want, sizeof want, "m=PUT t=/up v=1 n=%d\n", 3 << 20);
        EXPECT_HAS(out, want);
        free(out);
    }
    /* -F: multipart/form-data POST. */
    char form[128];
    snprintf(form, sizeof form, "f=@%s", file);
    RUN(out, "curl", "-sS", "-F", form, "-F", "name=value", u);
    EXPECT_HAS(out, "m=POST t=/up v=1 n=");
    EXPECT_HAS(out, "name=\"name\"");
    EXPECT_TRUE(strtoul(strstr(out, " n=") + 3, NULL, 10) > (3u << 20));
    free(out);
    /* --data with --http1.0. */
    RUN(out, "curl", "-sS", "--http1.0", "--data-binary", "abc", u);
    EXPECT_HAS(out, "m=POST t=/up v=0 n=3\nabc");
    free(out);
    unlink(file);
    free(u);
    EXPECT_EQ(0, tsrv_stop(&s));
    EXPECT_EQ(base, test_fd_count());
}

TEST(curl_https)
{
    int base = test_fd_baseline();
    char dir[] = "/tmp/cio-http-tls-XXXXXX";
    if (!mkdtemp(dir))
        FAIL("mkdtemp: %s", strerror(errno));
    char *out;
    RUN(out, "sh", CIO_TEST_TLS_CERTS, dir);
    free(out);
    char cert[128], key[128], ca[128];
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    struct tsrv s = {0};
    client_opts(&s);
    /* http/1.0 too, as nginx offers it: curl --http1.0 offers only that. */
    cio_tls_options to = CIO_TLS_OPTIONS(.server = true, .cert_file = cert, .key_file = key,
                                         .alpn = "http/1.1,http/1.0");
    EXPECT_OK(cio_tls_config_new(&to, &s.tls));
    tsrv_start(&s);
    char *u = url(s.port, "https", "/secure"), *u2 = url(s.port, "https", "/again");
    char resolve[64];
    snprintf(resolve, sizeof resolve, "localhost:%u:127.0.0.1", s.port);
    RUN(out, "curl", "-sS", "-v", "--cacert", ca, "--resolve", resolve, u, u2);
    EXPECT_HAS(out, "m=GET t=/secure v=1 n=0");
    EXPECT_HAS(out, "t=/again");
    EXPECT_HAS(out, "ALPN: server accepted http/1.1");
    free(out);
    RUN(out, "curl", "-sS", "--cacert", ca, "--resolve", resolve, "--http1.0", u);
    EXPECT_HAS(out, "v=0");
    free(out);
    RUN(out, "curl", "-sS", "--cacert", ca, "--resolve", resolve, "--data-binary", "xyz", u);
    EXPECT_HAS(out, "m=POST t=/secure v=1 n=3\nxyz");
    free(out);
    free(u), free(u2);
    EXPECT_EQ(0, tsrv_stop(&s));
    cio_tls_config_free(s.tls);
    RUN(out, "rm", "-rf", dir);
    free(out);
    EXPECT_EQ(base, test_fd_count());
}

static const char py_http_client[] =
    "import http.client, sys\n"
    "port = int(sys.argv[1])\n"
    "c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)\n"
    "c.request('GET', '/a?b=c')\n"
    "r = c.getresponse(); body = r.read()\n"
    "assert r.status == 200 and b't=/a?b=c v=1 n=0' in body, body\n"
    "c.request('POST', '/p', body=b'x' * 100000, headers={'Content-Type': 'application/octet-stream'})\n"
    "r = c.getresponse(); body = r.read()\n"
    "assert r.status == 200 and b'n=100000\\n' in body, body\n"
    "c.request('POST', '/chunked', body=iter([b'abc', b'defg']), encode_chunked=True)\n"
    "r = c.getresponse(); body = r.read()\n"
    "assert r.status == 200 and body.endswith(b'n=7\\nabcdefg'), body\n"
    "c.request('HEAD', '/h')\n"
    "r = c.getresponse(); body = r.read()\n"
    "assert r.status == 200 and body == b'', body\n"
    "c.request('GET', '/last')\n"
    "r = c.getresponse(); body = r.read()\n"
    "assert r.status == 200 and b't=/last' in body, body\n"
    "c.close()\n"
    "print('http.client ok')\n";

static const char py_requests[] =
    "import requests, sys\n"
    "port = int(sys.argv[1])\n"
    "base = 'http://127.0.0.1:%d' % port\n"
    "s = requests.Session()\n"
    "r = s.get(base + '/r', params={'q': 'a b'}, timeout=60)\n"
    "assert r.status_code == 200 and 't=/r?q=a+b' in r.text, r.text\n"
    "r = s.post(base + '/form', data={'k': 'v', 'x': 'y'}, timeout=60)\n"
    "assert r.status_code == 200 and r.text.endswith('n=7\\nk=v&x=y'), r.text\n"
    "r = s.post(base + '/files', files={'f': ('a.txt', b'hello')}, timeout=60)\n"
    "assert r.status_code == 200 and 'filename=\"a.txt\"' in r.text, r.text\n"
    "def gen():\n"
    "    for i in range(10):\n"
    "        yield b'0123456789'\n"
    "r = s.put(base + '/stream', data=gen(), timeout=60)\n"
    "assert r.status_code == 200 and 'n=100\\n' in r.text, r.text\n"
    "r = s.post(base + '/json', json={'a': [1, 2]}, timeout=60)\n"
    "assert r.status_code == 200 and r.text.endswith('{\"a\": [1, 2]}'), r.text\n"
    "print('requests ok')\n";

static void run_python(const char *script, const char *ok_line)
{
    int base = test_fd_baseline();
    struct tsrv s = {0};
    client_opts(&s);
    tsrv_start(&s);
    char port[16];
    snprintf(port, sizeof port, "%u", s.port);
    char *out;
    char *argv[] = {"python3", "-c", (char *)script, port, NULL};
    int rc = peer_run(argv, NULL, 120, &out);
    if (rc != 0)
        FAIL("python3 exited %d:\n%s", rc, out);
    EXPECT_HAS(out, ok_line);
    free(out);
    EXPECT_EQ(0, tsrv_stop(&s));
    EXPECT_EQ(base, test_fd_count());
}

TEST(python_http_client)
{
    run_python(py_http_client, "http.client ok");
}

TEST(python_requests)
{
    run_python(py_requests, "requests ok");
}

/* wrk for 3 s on 10 connections: some requests, no error of any kind. */
TEST(wrk_no_errors)
{
    int base = test_fd_baseline();
    struct tsrv s = {0};
    client_opts(&s);
    tsrv_start(&s);
    char *u = url(s.port, "http", "/wrk");
    char *out;
    RUN(out, "wrk", "-t1", "-c10", "-d3s", "--latency", u);
    const char *p = strstr(out, " requests in ");
    if (!p)
        FAIL("no request count in wrk's output:\n%s", out);
    while (p > out && p[-1] >= '0' && p[-1] <= '9')
        p--;
    long n = strtol(p, NULL, 10);
    if (n <= 0)
        FAIL("wrk made no request:\n%s", out);
    if (strstr(out, "Socket errors") || strstr(out, "Non-2xx"))
        FAIL("wrk saw errors:\n%s", out);
    printf("wrk: %ld requests\n", n);
    free(out);
    free(u);
    EXPECT_EQ(0, tsrv_stop(&s));
    EXPECT_EQ(base, test_fd_count());
}

int main(int argc, char **argv)
{
    static const char *const peers[] = {"curl", "python3", "wrk", "openssl", "sh", "rm"};
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
        if (!peer_have(peers[i])) {
            printf("skipped: %s is not installed\n", peers[i]);
            return 77;
        }
    char *argv_[] = {"python3", "-c", "import requests", NULL};
    if (peer_run(argv_, NULL, 60, NULL) != 0) {
        printf("skipped: python3 has no requests module\n");
        return 77;
    }
    return test_main(argc, argv);
}
