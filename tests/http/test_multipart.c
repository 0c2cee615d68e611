/* Streaming multipart/form-data (RFC 7578, RFC 2046 5.1): the reader of
 * request_parse.c over memory fed in every chunk size, its limits and
 * malformed bodies; then cio_http_request_next_part end to end through a
 * server on 127.0.0.1 (raw sockets and python3 requests). */
#include "test.h"

#include <sys/resource.h>

#include "http/request_parse.h"
#include "request_harness.h"

#include <stdarg.h>

/* ---- The reader over memory ----------------------------------------------- */

struct feed {
    const char *data;
    size_t len, off, chunk; /* chunk: most bytes per read (0: all) */
    int err;                /* returned once data is exhausted, if nonzero */
    size_t reads;
};

static ssize_t feed_read(void *ctx, void *buf, size_t len)
{
    struct feed *f = ctx;
    f->reads++;
    if (f->off == f->len)
        return f->err;
    size_t n = f->len - f->off;
    if (f->chunk && n > f->chunk)
        n = f->chunk;
    if (n > len)
        n = len;
    memcpy(buf, f->data + f->off, n);
    f->off += n;
    return (ssize_t)n;
}

struct reader {
    struct cio_http_part mp;
    struct feed feed;
    void *mem;
};

static void reader_open(struct reader *r, const char *boundary, const char *body, size_t len,
                        size_t chunk, size_t max_header, size_t max_headers)
{
    memset(r, 0, sizeof *r);
    r->feed = (struct feed){.data = body, .len = len, .chunk = chunk};
    r->mem = aligned_alloc(16, (cio__http_mp_size(max_header, max_headers) + 15) & ~(size_t)15);
    EXPECT_TRUE(r->mem != NULL);
    cio__http_mp_init(&r->mp, r->mem, boundary, strlen(boundary), max_header, max_headers,
                      feed_read, &r->feed);
}

static void reader_close(struct reader *r) { free(r->mem); }

/* Reads the whole current part (in reads of at most step bytes) into out. */
static ssize_t read_part(struct cio_http_part *p, char *out, size_t cap, size_t step)
{
    size_t got = 0;
    for (int i = 0; i < 10000000; i++) {
        size_t want = cap - got < step ? cap - got : step;
        if (want == 0)
            want = 1; /* over cap: must then be the end */
        char tmp[65536];
        ssize_t n = cio_http_part_read(p, tmp, want);
        if (n <= 0)
            return n < 0 ? n : (ssize_t)got;
        if (got + (size_t)n > cap)
            FAIL("part longer than %zu", cap);
        memcpy(out + got, tmp, (size_t)n);
        got += (size_t)n;
    }
    FAIL("part never ended");
}

static const char BODY1[] =
    "This is the preamble, to be ignored.\r\n"
    "--AaB03x\r\n"
    "Content-Disposition: form-data; name=\"field1\"\r\n"
    "\r\n"
    "Joe Blow\r\nalmost --AaB03 tricky\r\n"
    "--AaB03x  \t\r\n"
    "content-disposition: form-data; name=\"pics\"; filename=\"file1.txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "... contents of file1.txt ...\r\r\n\r\n-\r\n--\r\n--AaB\r\n"
    "--AaB03x\r\n"
    "\r\n"
    "no headers at all\r\n"
    "--AaB03x\r\n"
    "Content-Disposition: form-data; name=\"empty\"\r\n"
    "\r\n"
    "\r\n"
    "--AaB03x--\r\n"
    "This is the epilogue, also ignored.\r\n";

static void check_body1(size_t chunk, size_t step)
{
    struct reader r;
    reader_open(&r, "AaB03x", BODY1, sizeof BODY1 - 1, chunk, 16384, 100);
    char out[256];
    EXPECT_EQ(1, cio__http_mp_next(&r.mp));
    EXPECT_STR_EQ("field1", cio_http_part_name(&r.mp));
    EXPECT_TRUE(cio_http_part_filename(&r.mp) == NULL);
    EXPECT_TRUE(cio_http_part_header(&r.mp, "Content-Type") == NULL);
    ssize_t n = read_part(&r.mp, out, sizeof out, step);
    EXPECT_EQ(strlen("Joe Blow\r\nalmost --AaB03 tricky"), n);
    EXPECT_TRUE(memcmp(out, "Joe Blow\r\nalmost --AaB03 tricky", (size_t)n) == 0);
    EXPECT_EQ(0, cio_http_part_read(&r.mp, out, sizeof out)); /* stays at the end */

    EXPECT_EQ(1, cio__http_mp_next(&r.mp));
    EXPECT_STR_EQ("pics", cio_http_part_name(&r.mp));
    EXPECT_STR_EQ("file1.txt", cio_http_part_filename(&r.mp));
    EXPECT_STR_EQ("text/plain", cio_http_part_header(&r.mp, "content-type"));
    EXPECT_STR_EQ("form-data; name=\"pics\"; filename=\"file1.txt\"",
                  cio_http_part_header(&r.mp, "Content-Disposition"));
    n = read_part(&r.mp, out, sizeof out, step);
    static const char c2[] = "... contents of file1.txt ...\r\r\n\r\n-\r\n--\r\n--AaB";
    EXPECT_EQ(sizeof c2 - 1, n);
    EXPECT_TRUE(memcmp(out, c2, sizeof c2 - 1) == 0);

    EXPECT_EQ(1, cio__http_mp_next(&r.mp));
    EXPECT_TRUE(cio_http_part_name(&r.mp) == NULL);
    EXPECT_TRUE(cio_http_part_header(&r.mp, "Content-Disposition") == NULL);
    n = read_part(&r.mp, out, sizeof out, step);
    EXPECT_EQ(17, n);
    EXPECT_TRUE(memcmp(out, "no headers at all", 17) == 0);

    EXPECT_EQ(1, cio__http_mp_next(&r.mp));
    EXPECT_STR_EQ("empty", cio_http_part_name(&r.mp));
    EXPECT_EQ(0, read_part(&r.mp, out, sizeof out, step));

    EXPECT_EQ(0, cio__http_mp_next(&r.mp));
    EXPECT_EQ(0, cio__http_mp_next(&r.mp)); /* stays done */
    EXPECT_EQ(r.feed.len, r.feed.off);       /* the epilogue was read */
    EXPECT_EQ(0, cio_http_part_read(&r.mp, out, sizeof out));
    reader_close(&r);
}

/* Every split of the input and every read size: the reader's state never
 * depends on where the bytes were cut. */
TEST(mp_every_chunk_size)
{
    for (size_t chunk = 1; chunk <= sizeof BODY1; chunk++)
        check_body1(chunk, 65536);
    for (size_t step = 1; step <= 40; step++)
        check_body1(7, step);
    check_body1(0, 1);
}

/* Parts skipped without reading (or half read) are drained. */
TEST(mp_skipped_parts)
{
    for (size_t chunk = 1; chunk < 60; chunk += 3) {
        struct reader r;
        reader_open(&r, "AaB03x", BODY1, sizeof BODY1 - 1, chunk, 16384, 100);
        EXPECT_EQ(1, cio__http_mp_next(&r.mp));
        EXPECT_EQ(1, cio__http_mp_next(&r.mp));
        char c[4];
        size_t got = 0;
        for (int i = 0; i < 8 && got < 4; i++) { /* short reads are allowed */
            ssize_t n = cio_http_part_read(&r.mp, c + got, 4 - got);
            EXPECT_TRUE(n > 0);
            got += (size_t)n;
        }
        EXPECT_EQ(4, got);
        EXPECT_TRUE(memcmp(c, "... ", 4) == 0);
        EXPECT_EQ(1, cio__http_mp_next(&r.mp));
        EXPECT_TRUE(cio_http_part_name(&r.mp) == NULL);
        EXPECT_EQ(1, cio__http_mp_next(&r.mp));
        EXPECT_STR_EQ("empty", cio_http_part_name(&r.mp));
        EXPECT_EQ(0, cio__http_mp_next(&r.mp));
        reader_close(&r);
    }
}

static int mp_parse_all(const char *boundary, const char *body, size_t chunk, size_t max_header,
                        size_t max_headers)
{
    struct reader r;
    reader_open(&r, boundary, body, strlen(body), chunk, max_header, max_headers);
    int rc;
    for (int i = 0; i < 100 && (rc = cio__http_mp_next(&r.mp)) == 1; i++) {
        char buf[64];
        ssize_t n;
        while ((n = cio_http_part_read(&r.mp, buf, sizeof buf)) > 0)
            ;
        if (n < 0) {
            EXPECT_EQ(n, cio__http_mp_next(&r.mp)); /* the error is kept */
            rc = (int)n;
            break;
        }
    }
    reader_close(&r);
    return rc;
}

#define CD "Content-Disposition: form-data; name=\"a\"\r\n"

TEST(mp_malformed)
{
    static const char *const bad[] = {
        "",                                                /* empty body */
        "no delimiter at all",                             /* preamble only */
        "--b\r\n" CD "\r\nvalue",                          /* no closing delimiter */
        "--b\r\n" CD "\r\nvalue\r\n--b",                   /* ends after a delimiter */
        "--b\r\n" CD "\r\nvalue\r\n--b\r\n",               /* ends before headers */
        "--b\r\n" CD,                                      /* header section unfinished */
        "--bx\r\n" CD "\r\nv\r\n--b--",                    /* the delimiter line goes on */
        "--b x\r\n" CD "\r\nv\r\n--b--",                   /* padding then text */
        "--b\r\nContent-Disposition form-data\r\n\r\nv\r\n--b--", /* no colon */
        "--b\r\nBad Name: x\r\n\r\nv\r\n--b--",            /* not a token */
        "--b\r\nName : x\r\n\r\nv\r\n--b--",               /* space before the colon */
        "--b\r\n" CD " folded\r\n\r\nv\r\n--b--",          /* obs-fold */
        "--b\r\nX: a\rb\r\n\r\nv\r\n--b--",                /* bare CR */
        "--b\r\nX: a\nb\r\n\r\nv\r\n--b--",                /* bare LF */
        "--b\r\nX: a\x01" "b\r\n\r\nv\r\n--b--",           /* control character */
        "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--b--", /* open quote */
        "--b\r\nContent-Disposition: form-data; name\r\n\r\nv\r\n--b--",     /* no '=' */
        "--b\r\nContent-Disposition: form-data; name=a b\r\n\r\nv\r\n--b--", /* junk */
        "--b\r\nContent-Disposition: ; name=a\r\n\r\nv\r\n--b--",            /* no type */
        "--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; filename*=UTF-8''a%2\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; filename*=UTF-8''a%00b\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; filename*=UTF-8'a\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; filename*=UTF-8''a*b\r\n\r\nv\r\n--b--",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (size_t chunk = 0; chunk < 8; chunk += 3) {
            int rc = mp_parse_all("b", bad[i], chunk, 16384, 100);
            if (rc != -EBADMSG)
                FAIL("case %zu (chunk %zu): got %d, expected -EBADMSG", i, chunk, rc);
        }
}

TEST(mp_well_formed_variants)
{
    static const char *const good[] = {
        "--b--",                                         /* no parts */
        "--b--\r\nepilogue",                             /* and an epilogue */
        "preamble\r\n--b\r\n" CD "\r\nv\r\n--b--",       /* preamble */
        "--b\r\n" CD "\r\nv\r\n--b--  ",                 /* padding after the close */
        "--b\r\nX:\r\n\r\nv\r\n--b--",                   /* empty header value */
        "--b\r\nContent-Disposition: form-data;name=a;\r\n\r\n\r\n--b--", /* tight, trailing ; */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        for (size_t chunk = 0; chunk < 8; chunk += 3) {
            int rc = mp_parse_all("b", good[i], chunk, 16384, 100);
            if (rc != 0)
                FAIL("case %zu (chunk %zu): got %d", i, chunk, rc);
        }
}

TEST(mp_header_limits)
{
    /* The header section up to max_header bytes (its lines with their
     * CRLFs, not the empty line) is taken; one byte more is -EBADMSG. */
    char body[1024];
    char hdr[600];
    for (int extra = 0; extra <= 1; extra++) {
        size_t max = 200;
        size_t vlen = max - strlen("X: \r\n") + (size_t)extra;
        memset(hdr, 'v', vlen);
        hdr[vlen] = 0;
        snprintf(body, sizeof body, "--b\r\nX: %s\r\n\r\nbody\r\n--b--", hdr);
        EXPECT_ERR(extra ? -EBADMSG : 0, mp_parse_all("b", body, 0, max, 10));
        EXPECT_ERR(extra ? -EBADMSG : 0, mp_parse_all("b", body, 5, max, 10));
    }
    /* max_headers fields */
    const char *three = "--b\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\nv\r\n--b--";
    EXPECT_ERR(0, mp_parse_all("b", three, 0, 16384, 3));
    EXPECT_ERR(-EBADMSG, mp_parse_all("b", three, 0, 16384, 2));
    /* a header section that never ends is refused once over the limit,
     * before the body has been read */
    size_t big = 1 << 20;
    char *endless = malloc(big + 1);
    memcpy(endless, "--b\r\nX: ", 8);
    memset(endless + 8, 'x', big - 8);
    endless[big] = 0;
    struct reader r;
    reader_open(&r, "b", endless, big, 0, 1000, 10);
    EXPECT_ERR(-EBADMSG, cio__http_mp_next(&r.mp));
    EXPECT_TRUE(r.feed.off < 200000);
    reader_close(&r);
    free(endless);
}

TEST(mp_read_error_kept)
{
    const char *body = "--b\r\n" CD "\r\npartial";
    struct reader r;
    reader_open(&r, "b", body, strlen(body), 3, 16384, 100);
    r.feed.err = -ECONNRESET;
    EXPECT_EQ(1, cio__http_mp_next(&r.mp));
    char buf[64];
    ssize_t n, total = 0;
    while ((n = cio_http_part_read(&r.mp, buf, sizeof buf)) > 0)
        total += n;
    EXPECT_ERR(-ECONNRESET, n);
    EXPECT_TRUE(total <= 7);
    EXPECT_ERR(-ECONNRESET, cio_http_part_read(&r.mp, buf, sizeof buf));
    EXPECT_ERR(-ECONNRESET, cio__http_mp_next(&r.mp));
    reader_close(&r);
}

TEST(mp_disposition_params)
{
    struct {
        const char *cd, *name, *filename;
    } cases[] = {
        {"form-data; name=\"a\\\"b\"; filename=\"C:\\\\x\\\\y.txt\"", "a\"b", "C:\\x\\y.txt"},
        {"form-data; name=tok; filename=plain.txt", "tok", "plain.txt"},
        {"form-data; NAME=\"n\"; FileName=\"f\"", "n", "f"},
        {"form-data; name=\"n\"; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve%20%E2%82%AC.txt",
         "n", "na\xc3\xafve \xe2\x82\xac.txt"},
        {"form-data; filename*=utf-8'en'x.bin; name=n", "n", "x.bin"},
        {"form-data; name=n; filename=\"f.txt\"; filename*=ISO-8859-1''%E9.txt", "n", "f.txt"},
        {"form-data; name=\"caf\xc3\xa9\"; filename=\"\xe2\x82\xac.txt\"", "caf\xc3\xa9",
         "\xe2\x82\xac.txt"},
        {"form-data ; name = \"spaced\" ; filename = \"\"", "spaced", ""},
        {"attachment", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "--b\r\nContent-Disposition: %s\r\n\r\nv\r\n--b--",
                 cases[i].cd);
        struct reader r;
        reader_open(&r, "b", body, strlen(body), 0, 16384, 100);
        int rc = cio__http_mp_next(&r.mp);
        if (rc != 1)
            FAIL("case %zu: %d", i, rc);
        const char *n = cio_http_part_name(&r.mp), *f = cio_http_part_filename(&r.mp);
        if (cases[i].name)
            EXPECT_STR_EQ(cases[i].name, n);
        else
            EXPECT_TRUE(n == NULL);
        if (cases[i].filename)
            EXPECT_STR_EQ(cases[i].filename, f);
        else
            EXPECT_TRUE(f == NULL);
        EXPECT_EQ(0, cio__http_mp_next(&r.mp));
        reader_close(&r);
    }
}

TEST(mp_boundary_from_content_type)
{
    char b[71];
    size_t n = 0;
    EXPECT_OK(cio__http_multipart_boundary("multipart/form-data; boundary=AaB03x", b, &n));
    EXPECT_STR_EQ("AaB03x", b);
    EXPECT_EQ(6, n);
    EXPECT_OK(cio__http_multipart_boundary("Multipart/Form-Data;charset=utf-8;BOUNDARY=\"a b:c\"",
                                           b, &n));
    EXPECT_STR_EQ("a b:c", b);
    char ct[200];
    char seventy[71];
    memset(seventy, 'x', 70);
    seventy[70] = 0;
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", seventy);
    EXPECT_OK(cio__http_multipart_boundary(ct, b, &n));
    EXPECT_EQ(70, n);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%sx", seventy);
    EXPECT_ERR(-EBADMSG, cio__http_multipart_boundary(ct, b, &n));
    static const char *const bad[] = {
        NULL,
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"ends in space \"",
        "multipart/form-data; boundary=\"bad;char\"",
        "multipart/form-data; boundary=\"bad\x7f\"",
        "multipart/mixed; boundary=x",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x; junk",
        "multipart/form-data boundary=x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cio__http_multipart_boundary(bad[i], b, &n) != -EBADMSG)
            FAIL("case %zu accepted", i);
}

/* A generated 200 MB file part, read in 64 KiB pieces: the reader's memory
 * is fixed (its buffers come from cio__http_mp_size), and the process's
 * peak RSS does not follow the upload. */
struct gen {
    uint64_t total, off; /* of the whole body */
    const char *head, *tail;
    size_t hlen, tlen;
    uint64_t file;
};

static ssize_t gen_read(void *ctx, void *buf, size_t len)
{
    struct gen *g = ctx;
    uint64_t left = g->total - g->off;
    if (left == 0)
        return 0;
    size_t n = left < len ? (size_t)left : len;
    char *o = buf;
    for (size_t i = 0; i < n; i++) {
        uint64_t at = g->off + i;
        if (at < g->hlen)
            o[i] = g->head[at];
        else if (at < g->hlen + g->file)
            o[i] = (char)('a' + (at - g->hlen) % 26); /* '\r' never appears */
        else
            o[i] = g->tail[at - g->hlen - g->file];
    }
    g->off += n;
    return (ssize_t)n;
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

TEST_T(mp_200mb_bounded, 240)
{
    struct gen g = {.head = "--xyz\r\nContent-Disposition: form-data; name=\"f\"; "
                            "filename=\"big.bin\"\r\n\r\n",
                    .tail = "\r\n--xyz--\r\n",
                    .file = 200ull << 20};
    g.hlen = strlen(g.head);
    g.tlen = strlen(g.tail);
    g.total = g.hlen + g.file + g.tlen;
    size_t size = cio__http_mp_size(16384, 100);
    EXPECT_TRUE(size < 200000);
    void *mem = aligned_alloc(16, (size + 15) & ~(size_t)15);
    struct cio_http_part mp;
    cio__http_mp_init(&mp, mem, "xyz", 3, 16384, 100, gen_read, &g);
    long before = max_rss_kb();
    EXPECT_EQ(1, cio__http_mp_next(&mp));
    EXPECT_STR_EQ("big.bin", cio_http_part_filename(&mp));
    static char buf[65536];
    uint64_t got = 0;
    ssize_t n;
    bool ok = true;
    while ((n = cio_http_part_read(&mp, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i += 4093)
            ok &= buf[i] == (char)('a' + (got + (uint64_t)i) % 26);
        got += (uint64_t)n;
    }
    EXPECT_EQ(0, n);
    EXPECT_TRUE(ok);
    EXPECT_EQ(g.file, got);
    EXPECT_EQ(0, cio__http_mp_next(&mp));
    EXPECT_TRUE(max_rss_kb() - before < 8 * 1024);
    free(mem);
}


/* ---- End to end ------------------------------------------------------------- */

struct text {
    char buf[8192];
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void say(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < sizeof t->buf - t->len ? (size_t)n : sizeof t->buf - t->len - 1;
}

static const char *show(const char *s) { return s ? s : "-"; }

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
#define FNV0 14695981039346656037ull

/* One line per part: name|filename|content type|body (or its size and
 * hash when long); parts named "skip" are left unread. The error, if any,
 * makes it a 400 with the error's name first. Also reports the peak RSS
 * growth in KiB while parts were read. */
static int h_parts(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    struct text *t = calloc(1, sizeof *t);
    unsigned char *buf = malloc(65536);
    cio_http_part *p = NULL;
    int rc;
    long rss0 = 0;
    {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        rss0 = ru.ru_maxrss;
    }
    for (int i = 0; i < 1000 && (rc = cio_http_request_next_part(req, &p)) == 0 && p; i++) {
        say(t, "%s|%s|%s|", show(cio_http_part_name(p)), show(cio_http_part_filename(p)),
            show(cio_http_part_header(p, "Content-Type")));
        if (cio_http_part_name(p) && strcmp(cio_http_part_name(p), "skip") == 0) {
            say(t, "skipped\n");
            continue;
        }
        uint64_t size = 0, h = FNV0;
        ssize_t n;
        char head[65];
        while ((n = cio_http_part_read(p, buf, 65536)) > 0) {
            if (size < 64)
                memcpy(head + size, buf, (size_t)n < 64 - size ? (size_t)n : 64 - size);
            h = fnv(h, buf, (size_t)n);
            size += (uint64_t)n;
        }
        if (n < 0) {
            rc = (int)n;
            break;
        }
        if (size <= 64)
            say(t, "%.*s\n", (int)size, head);
        else
            say(t, "size=%llu hash=%016llx\n", (unsigned long long)size, (unsigned long long)h);
    }
    EXPECT_TRUE(p == NULL || rc < 0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char hdr[32];
    snprintf(hdr, sizeof hdr, "%ld", ru.ru_maxrss - rss0);
    cio_http_response_header(res, "X-Rss-Growth-KiB", hdr);
    if (rc < 0) {
        char msg[8192 + 64];
        snprintf(msg, sizeof msg, "error %s\n%s", cio_err_name(rc), t->buf);
        rc = cio_http_response_text(res, 400, msg);
    } else {
        rc = cio_http_response_text(res, 200, t->buf);
    }
    free(buf);
    free(t);
    return rc;
}

static int h_args(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    cio_http_part *p = (cio_http_part *)1;
    EXPECT_ERR(-EINVAL, cio_http_request_next_part(NULL, &p));
    EXPECT_TRUE(p == NULL);
    EXPECT_ERR(-EINVAL, cio_http_request_next_part(req, NULL));
    EXPECT_TRUE(cio_http_part_name(NULL) == NULL);
    EXPECT_TRUE(cio_http_part_filename(NULL) == NULL);
    EXPECT_TRUE(cio_http_part_header(NULL, "a") == NULL);
    char c;
    EXPECT_ERR(-EINVAL, cio_http_part_read(NULL, &c, 1));
    /* not multipart: -EBADMSG, nothing read */
    EXPECT_ERR(-EBADMSG, cio_http_request_next_part(req, &p));
    const void *data;
    size_t len;
    EXPECT_OK(cio_http_request_body(req, 0, &data, &len));
    EXPECT_EQ(5, len);
    return cio_http_response_text(res, 200, "args ok");
}

static void app_parts(struct harness *h)
{
    EXPECT_OK(cio_http_app_new(&h->app));
    EXPECT_OK(cio_http_app_route(h->app, "POST", "/up", h_parts, NULL));
    EXPECT_OK(cio_http_app_route(h->app, "POST", "/args", h_args, NULL));
}

#define MP_TYPE "multipart/form-data; boundary=\"AaB03x\""

TEST(e2e_parts)
{
    struct harness h = {0};
    app_parts(&h);
    harness_start(&h);
    char resp[16384];
    int st;
    const char *b = http_post(&h, "/up", MP_TYPE, BODY1, sizeof BODY1 - 1, resp, sizeof resp, &st);
    if (st != 200) FAIL("%s", resp);
    EXPECT_STR_EQ("field1|-|-|Joe Blow\r\nalmost --AaB03 tricky\n"
                  "pics|file1.txt|text/plain|... contents of file1.txt ...\r\r\n\r\n-\r\n--\r\n--AaB\n"
                  "-|-|-|no headers at all\n"
                  "empty|-|-|\n",
                  b);
    const char *skip = "--b\r\nContent-Disposition: form-data; name=\"skip\"\r\n\r\n"
                       "drained, never read\r\n"
                       "--b\r\nContent-Disposition: form-data; name=\"kept\"\r\n\r\nyes\r\n--b--";
    b = http_post(&h, "/up", "multipart/form-data; boundary=b", skip, strlen(skip), resp,
                  sizeof resp, &st);
    EXPECT_EQ(200, st);
    EXPECT_STR_EQ("skip|-|-|skipped\nkept|-|-|yes\n", b);
    /* malformed: the error after the parts that were fine */
    const char *bad = "--b\r\nContent-Disposition: form-data; name=\"ok\"\r\n\r\n1\r\n"
                      "--b\r\nContent-Disposition: form-data; name=\"cut\"\r\n\r\nno end";
    b = http_post(&h, "/up", "multipart/form-data; boundary=b", bad, strlen(bad), resp,
                  sizeof resp, &st);
    EXPECT_EQ(400, st);
    EXPECT_STR_EQ("error EBADMSG\nok|-|-|1\ncut|-|-|", b);
    b = http_post(&h, "/up", "multipart/form-data", "--b--", 5, resp, sizeof resp, &st);
    EXPECT_STR_EQ("error EBADMSG\n", b);
    b = http_post(&h, "/up", "text/plain", "--b--", 5, resp, sizeof resp, &st);
    EXPECT_STR_EQ("error EBADMSG\n", b);
    b = http_post(&h, "/args", "text/plain", "hello", 5, resp, sizeof resp, &st);
    EXPECT_STR_EQ("args ok", b);
    harness_stop(&h);
}

/* A part header section over the server's max_header_size. */
TEST(e2e_part_header_limit)
{
    struct harness h = {0};
    app_parts(&h);
    h.opts = (cio_http_server_options)CIO_HTTP_SERVER_OPTIONS(.max_header_size = 1024);
    harness_start(&h);
    char body[4096], resp[16384];
    char v[2000];
    memset(v, 'v', sizeof v - 1);
    v[sizeof v - 1] = 0;
    int n = snprintf(body, sizeof body, "--b\r\nX-Big: %s\r\n\r\nx\r\n--b--", v);
    int st;
    const char *b = http_post(&h, "/up", "multipart/form-data; boundary=b", body, (size_t)n, resp,
                              sizeof resp, &st);
    EXPECT_EQ(400, st);
    EXPECT_STR_EQ("error EBADMSG\n", b);
    harness_stop(&h);
}

/* The body chunked (Transfer-Encoding), the delimiter cut across chunks. */
TEST(e2e_parts_chunked)
{
    struct harness h = {0};
    app_parts(&h);
    harness_start(&h);
    char req[4096], resp[16384];
    size_t n = (size_t)snprintf(req, sizeof req,
                                "POST /up HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                "Content-Type: " MP_TYPE "\r\nTransfer-Encoding: chunked\r\n\r\n");
    const char *body = BODY1;
    size_t left = sizeof BODY1 - 1;
    for (size_t c = 1; left; c = c * 2 + 1) {
        size_t k = c < left ? c : left;
        n += (size_t)snprintf(req + n, sizeof req - n, "%zx\r\n%.*s\r\n", k, (int)k, body);
        body += k;
        left -= k;
    }
    n += (size_t)snprintf(req + n, sizeof req - n, "0\r\n\r\n");
    http_exchange(h.port, req, n, resp, sizeof resp);
    EXPECT_EQ(200, http_status(resp));
    EXPECT_TRUE(strstr(http_body(resp), "empty|-|-|\n") != NULL);
    harness_stop(&h);
}

/* 200 MB of one file part over a raw socket: the server reads it as it
 * arrives; the process's peak RSS grows by far less than the upload. */
TEST_T(e2e_200mb_upload, 280)
{
    struct harness h = {0};
    app_parts(&h);
    harness_start(&h);
    const char *head = "--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big.bin\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n";
    const char *tail = "\r\n--xyz--\r\n";
    uint64_t file = 200ull << 20;
    uint64_t total = strlen(head) + file + strlen(tail);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /up HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Content-Type: multipart/form-data; boundary=xyz\r\n"
                     "Content-Length: %llu\r\n\r\n%s",
                     (unsigned long long)total, head);
    int fd = harness_connect(h.port);
    send_all(fd, req, (size_t)n);
    static unsigned char chunk[1 << 16];
    uint64_t hash = FNV0;
    for (uint64_t off = 0; off < file; off += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = (unsigned char)((off + i) * 2654435761u >> 13);
        hash = fnv(hash, chunk, sizeof chunk);
        send_all(fd, chunk, sizeof chunk);
    }
    send_all(fd, tail, strlen(tail));
    char resp[4096];
    recv_all(fd, resp, sizeof resp);
    close(fd);
    EXPECT_EQ(200, http_status(resp));
    char want[200];
    snprintf(want, sizeof want, "f|big.bin|application/octet-stream|size=%llu hash=%016llx\n",
             (unsigned long long)file, (unsigned long long)hash);
    EXPECT_STR_EQ(want, http_body(resp));
    const char *g = strstr(resp, "X-Rss-Growth-KiB: ");
    EXPECT_TRUE(g != NULL);
    long growth = atol(g + strlen("X-Rss-Growth-KiB: "));
    if (growth > 32 * 1024)
        FAIL("peak RSS grew by %ld KiB during a 200 MB upload", growth);
    harness_stop(&h);
}

/* python3 requests' files=...: what a real client sends (urllib3's
 * encoder). Skipped, saying so, when python3 or requests is missing. */
TEST_T(e2e_python_requests, 120)
{
    if (system("python3 -c 'import requests' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "skipped: python3 requests missing\n");
        return;
    }
    struct harness h = {0};
    app_parts(&h);
    harness_start(&h);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "python3 -c '\n"
             "import sys, requests\n"
             "data = bytes(range(256)) * 4096 + b\"\\r\\n--\"\n"
             "r = requests.post(\"http://127.0.0.1:%u/up\",\n"
             "    data={\"field\": \"value \\u00e9\", \"multi\": [\"a\", \"b\"]},\n"
             "    files={\"upload\": (\"na\\u00efve \\u20ac.bin\", data, \"application/x-test\"),\n"
             "           \"skip\": (\"s.txt\", b\"skipped\")},\n"
             "    timeout=60)\n"
             "import hashlib\n"
             "h = 14695981039346656037\n"
             "for b in data: h = ((h ^ b) * 1099511628211) & 0xffffffffffffffff\n"
             "sys.stdout.write(\"%%d\\n%%d %%016x\\n%%s\" %% (r.status_code, len(data), h, r.text))\n"
             "'",
             h.port);
    FILE *py = popen(cmd, "re");
    EXPECT_TRUE(py != NULL);
    char out[8192];
    size_t got = fread(out, 1, sizeof out - 1, py);
    out[got] = 0;
    EXPECT_OK(pclose(py));
    int status = 0;
    unsigned long long size = 0, hash = 0;
    int used = 0;
    EXPECT_EQ(3, sscanf(out, "%d\n%llu %llx\n%n", &status, &size, &hash, &used));
    EXPECT_EQ(200, status);
    char want[1024];
    snprintf(want, sizeof want,
             "field|-|-|value \xc3\xa9\n"
             "multi|-|-|a\n"
             "multi|-|-|b\n"
             "upload|na\xc3\xafve \xe2\x82\xac.bin|application/x-test|size=%llu hash=%016llx\n"
             "skip|s.txt|-|skipped\n",
             size, hash);
    EXPECT_STR_EQ(want, out + used);
    harness_stop(&h);
}

/* A chunked upload over max_body_size: the reader gets -EMSGSIZE from the
 * body. */
TEST(e2e_parts_over_body_limit)
{
    struct harness h = {0};
    app_parts(&h);
    h.opts = (cio_http_server_options)CIO_HTTP_SERVER_OPTIONS(.max_body_size = 1000);
    harness_start(&h);
    static char req[16384];
    size_t n = (size_t)snprintf(req, sizeof req,
                                "POST /up HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                "Content-Type: multipart/form-data; boundary=b\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n");
    const char *head = "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n";
    n += (size_t)snprintf(req + n, sizeof req - n, "%zx\r\n%s\r\n", strlen(head), head);
    for (int i = 0; i < 8; i++) {
        n += (size_t)snprintf(req + n, sizeof req - n, "400\r\n");
        memset(req + n, 'x', 0x400);
        n += 0x400;
        n += (size_t)snprintf(req + n, sizeof req - n, "\r\n");
    }
    n += (size_t)snprintf(req + n, sizeof req - n, "9\r\n\r\n--b--\r\n\r\n0\r\n\r\n");
    char resp[16384];
    http_exchange(h.port, req, n, resp, sizeof resp);
    EXPECT_TRUE(http_status(resp) >= 400);
    /* the part may or may not have been seen first: the server reads the
     * body in pieces as large as what arrived */
    if (strncmp(http_body(resp), "error EMSGSIZE\n", 15) != 0)
        FAIL("%s", resp);
    harness_stop(&h);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
