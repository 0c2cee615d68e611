/* Static files (src/http/static.c, static_parse.c, mime.c): the MIME
 * table, request path checks, resolution below a root with openat2 and
 * with the walking fallback (a case refuses openat2 with a seccomp filter,
 * as a kernel before 5.6 would, so the fallback runs on every kernel),
 * entity tags, preconditions, Range and If-Range, Accept-Encoding. */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "http/static.h"
#include "test.h"

/* ---- MIME ------------------------------------------------------------------ */

TEST(mime_types)
{
    EXPECT_TRUE(cio__http_mime_table_sorted());
    EXPECT_STR_EQ("text/html; charset=utf-8", cio_http_mime_type("index.html"));
    EXPECT_STR_EQ("text/html; charset=utf-8", cio_http_mime_type("/a/b/INDEX.HTM"));
    EXPECT_STR_EQ("text/css; charset=utf-8", cio_http_mime_type("s.css"));
    EXPECT_STR_EQ("text/javascript; charset=utf-8", cio_http_mime_type("app.min.js"));
    EXPECT_STR_EQ("text/javascript; charset=utf-8", cio_http_mime_type("m.mjs"));
    EXPECT_STR_EQ("application/json", cio_http_mime_type("d.json"));
    EXPECT_STR_EQ("text/plain; charset=utf-8", cio_http_mime_type("README.txt"));
    EXPECT_STR_EQ("image/png", cio_http_mime_type("x.PNG"));
    EXPECT_STR_EQ("image/jpeg", cio_http_mime_type("x.jpeg"));
    EXPECT_STR_EQ("image/jpeg", cio_http_mime_type("x.jpg"));
    EXPECT_STR_EQ("image/svg+xml", cio_http_mime_type("x.svg"));
    EXPECT_STR_EQ("image/webp", cio_http_mime_type("x.webp"));
    EXPECT_STR_EQ("font/woff2", cio_http_mime_type("x.woff2"));
    EXPECT_STR_EQ("application/wasm", cio_http_mime_type("x.wasm"));
    EXPECT_STR_EQ("application/pdf", cio_http_mime_type("x.pdf"));
    EXPECT_STR_EQ("video/mp4", cio_http_mime_type("x.mp4"));
    EXPECT_STR_EQ("application/gzip", cio_http_mime_type("x.tar.gz"));
    EXPECT_STR_EQ("application/manifest+json", cio_http_mime_type("site.webmanifest"));
    /* Unknown, none, a dot file, a dot in a directory, NULL. */
    EXPECT_STR_EQ("application/octet-stream", cio_http_mime_type("x.unknownext"));
    EXPECT_STR_EQ("application/octet-stream", cio_http_mime_type("Makefile"));
    EXPECT_STR_EQ("application/octet-stream", cio_http_mime_type(".bashrc"));
    EXPECT_STR_EQ("application/octet-stream", cio_http_mime_type("a.d/file"));
    EXPECT_STR_EQ("application/octet-stream", cio_http_mime_type("x."));
    EXPECT_STR_EQ("application/octet-stream", cio_http_mime_type(NULL));
    EXPECT_STR_EQ("application/octet-stream", cio_http_mime_type(""));
    EXPECT_STR_EQ("application/octet-stream", cio_http_mime_type("x.averyveryverylongextension"));
    EXPECT_PTR_EQ(NULL, cio__http_mime_lookup("", 0));
    EXPECT_STR_EQ("image/gif", cio__http_mime_lookup("GiF", 3));
}

/* ---- Request paths ------------------------------------------------------------ */

static const char *clean(const char *in, char *buf, size_t cap)
{
    ssize_t n = cio__http_static_clean_path(in, buf, cap);
    if (n < 0) return cio_err_name((int)n);
    EXPECT_EQ(strlen(buf), n);
    return buf;
}

TEST(clean_path)
{
    char b[64];
    EXPECT_STR_EQ("", clean("", b, sizeof b));
    EXPECT_STR_EQ("", clean("/", b, sizeof b));
    EXPECT_STR_EQ("a/b.txt", clean("a/b.txt", b, sizeof b));
    EXPECT_STR_EQ("a/b.txt", clean("/a//b.txt", b, sizeof b));
    EXPECT_STR_EQ("a/dir/", clean("a/dir/", b, sizeof b));
    EXPECT_STR_EQ("a/dir/", clean("a//dir//", b, sizeof b));
    EXPECT_STR_EQ("..a/b..", clean("..a/b..", b, sizeof b));
    EXPECT_STR_EQ("...", clean("...", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("..", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("a/../b", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("a/..", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("../etc/passwd", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("a/./b", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("./", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("a\\..\\b", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("a\\b", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("a\x01" "b", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("a\nb", b, sizeof b));
    EXPECT_STR_EQ("ENOENT", clean("a\x7f", b, sizeof b));
    EXPECT_STR_EQ("ENAMETOOLONG", clean("abcdefgh/ijkl", b, 8));
    EXPECT_ERR(-EINVAL, cio__http_static_clean_path(NULL, b, sizeof b));
    EXPECT_ERR(-EINVAL, cio__http_static_clean_path("a", NULL, 1));
    EXPECT_ERR(-EINVAL, cio__http_static_clean_path("a", b, 0));
    /* A percent-decoded "%2e%2e" is "..": what the handler checks. */
    char dec[32];
    EXPECT_EQ(7, cio__http_pct_decode(dec, "a/%2e%2e/%2E%2E", 15, false));
    EXPECT_STR_EQ("ENOENT", clean(dec, b, sizeof b));
    EXPECT_EQ(4, cio__http_pct_decode(dec, "a%2f..", 6, false));
    EXPECT_STR_EQ("ENOENT", clean(dec, b, sizeof b));
}

TEST(raw_path_refusals)
{
    EXPECT_FALSE(cio__http_static_raw_refused("/a/b%20c.txt"));
    EXPECT_FALSE(cio__http_static_raw_refused("/%2e%2e"));     /* refused after decoding */
    EXPECT_TRUE(cio__http_static_raw_refused("/a%00.txt"));    /* encoded NUL */
    EXPECT_TRUE(cio__http_static_raw_refused("/a%5c..%5cb"));  /* encoded backslash */
    EXPECT_TRUE(cio__http_static_raw_refused("/a%5C..%5Cb"));
    EXPECT_TRUE(cio__http_static_raw_refused("/a\\b"));        /* raw backslash */
    EXPECT_TRUE(cio__http_static_raw_refused(NULL));
    EXPECT_FALSE(cio__http_static_raw_refused("/100%"));
}

/* ---- Resolution below a root ---------------------------------------------------- */

struct tree {
    char base[64], root[96];
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) FAIL("fopen %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static void make_tree(struct tree *t)
{
    strcpy(t->base, "/tmp/cio-static-XXXXXX");
    if (!mkdtemp(t->base)) FAIL("mkdtemp: %s", strerror(errno));
    snprintf(t->root, sizeof t->root, "%s/root", t->base);
    char p[256];
    EXPECT_OK(mkdir(t->root, 0755));
#define P(rel) (snprintf(p, sizeof p, "%s/%s", t->root, rel), p)
    write_file(P("a.txt"), "hello");
    EXPECT_OK(mkdir(P("sub"), 0755));
    EXPECT_OK(mkdir(P("sub/deeper"), 0755));
    write_file(P("sub/b.txt"), "bee");
    write_file(P("sub/deeper/c.txt"), "sea");
    EXPECT_OK(symlink("sub/b.txt", P("link_in")));
    EXPECT_OK(symlink("sub", P("link_dir")));
    EXPECT_OK(symlink("../b.txt", P("sub/deeper/link_up_in")));
    EXPECT_OK(symlink("../outside.txt", P("link_out")));
    EXPECT_OK(symlink("/etc/passwd", P("link_abs")));
    EXPECT_OK(symlink("sub/../../outside.txt", P("link_up")));
    EXPECT_OK(symlink("loop2", P("loop1")));
    EXPECT_OK(symlink("loop1", P("loop2")));
    EXPECT_OK(mkfifo(P("fifo"), 0644));
#undef P
    snprintf(p, sizeof p, "%s/outside.txt", t->base);
    write_file(p, "secret");
}

static void remove_tree(struct tree *t)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->base);
    EXPECT_OK(system(cmd));
}

/* The content of the file rel opens to (or the error's name). */
static const char *open_read(int (*open_fn)(int, const char *, int, bool), int root,
                             const char *rel, bool follow, char *buf, size_t cap)
{
    int fd = open_fn(root, rel, O_RDONLY | O_NONBLOCK, follow);
    if (fd < 0) return cio_err_name(fd);
    int fl = fcntl(fd, F_GETFD);
    EXPECT_TRUE(fl & FD_CLOEXEC);
    struct stat st;
    EXPECT_OK(fstat(fd, &st));
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return "DIR";
    }
    if (S_ISFIFO(st.st_mode)) {
        close(fd);
        return "FIFO";
    }
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    EXPECT_TRUE(n >= 0);
    buf[n] = '\0';
    return buf;
}

static void check_resolution(int (*fn)(int, const char *, int, bool))
{
    struct tree t;
    make_tree(&t);
    int before = test_fd_count();
    int root = open(t.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    EXPECT_TRUE(root >= 0);
    char b[64];
    EXPECT_STR_EQ("hello", open_read(fn, root, "a.txt", false, b, sizeof b));
    EXPECT_STR_EQ("sea", open_read(fn, root, "sub/deeper/c.txt", false, b, sizeof b));
    EXPECT_STR_EQ("DIR", open_read(fn, root, "", false, b, sizeof b));
    EXPECT_STR_EQ("DIR", open_read(fn, root, "sub/", false, b, sizeof b));
    EXPECT_STR_EQ("DIR", open_read(fn, root, "sub", false, b, sizeof b));
    EXPECT_STR_EQ("ENOENT", open_read(fn, root, "missing.txt", false, b, sizeof b));
    EXPECT_STR_EQ("ENOENT", open_read(fn, root, "sub/missing/x", false, b, sizeof b));
    EXPECT_STR_EQ("ENOTDIR", open_read(fn, root, "a.txt/", false, b, sizeof b));
    EXPECT_STR_EQ("ENOTDIR", open_read(fn, root, "a.txt/x", false, b, sizeof b));
    /* A FIFO opens without waiting for a writer (O_NONBLOCK). */
    EXPECT_STR_EQ("FIFO", open_read(fn, root, "fifo", false, b, sizeof b));
    /* ".." out of the root: refused whatever the options. */
    EXPECT_STR_EQ("EXDEV", open_read(fn, root, "../outside.txt", false, b, sizeof b));
    EXPECT_STR_EQ("EXDEV", open_read(fn, root, "sub/../../outside.txt", true, b, sizeof b));
    /* Symlinks: refused unless followed, and never out of the root. */
    EXPECT_STR_EQ("ELOOP", open_read(fn, root, "link_in", false, b, sizeof b));
    EXPECT_STR_EQ("ELOOP", open_read(fn, root, "link_dir/b.txt", false, b, sizeof b));
    EXPECT_STR_EQ("ELOOP", open_read(fn, root, "link_out", false, b, sizeof b));
    EXPECT_STR_EQ("bee", open_read(fn, root, "link_in", true, b, sizeof b));
    EXPECT_STR_EQ("bee", open_read(fn, root, "link_dir/b.txt", true, b, sizeof b));
    EXPECT_STR_EQ("sea", open_read(fn, root, "link_dir/deeper/c.txt", true, b, sizeof b));
    EXPECT_STR_EQ("bee", open_read(fn, root, "sub/deeper/link_up_in", true, b, sizeof b));
    EXPECT_STR_EQ("DIR", open_read(fn, root, "link_dir/", true, b, sizeof b));
    EXPECT_STR_EQ("EXDEV", open_read(fn, root, "link_out", true, b, sizeof b));
    EXPECT_STR_EQ("EXDEV", open_read(fn, root, "link_abs", true, b, sizeof b));
    EXPECT_STR_EQ("EXDEV", open_read(fn, root, "link_up", true, b, sizeof b));
    EXPECT_STR_EQ("ELOOP", open_read(fn, root, "loop1", true, b, sizeof b));
    close(root);
    EXPECT_EQ(before, test_fd_count());
    remove_tree(&t);
}

TEST(open_below_root)
{
    check_resolution(cio__http_static_open);
    EXPECT_FALSE(cio__http_static_walking()); /* this kernel has openat2 */
}

TEST(open_walk_fallback)
{
    check_resolution(cio__http_static_open_walk);
    EXPECT_ERR(-EINVAL, cio__http_static_open_walk(AT_FDCWD, NULL, O_RDONLY, false));
    EXPECT_ERR(-EINVAL, cio__http_static_open(AT_FDCWD, NULL, O_RDONLY, false));
}

/* As on a kernel before 5.6: openat2 fails with ENOSYS (a seccomp filter
 * in this case's own process), and cio__http_static_open must walk. */
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
    errno = 0;
    EXPECT_EQ(-1, syscall(__NR_openat2, AT_FDCWD, ".", NULL, 0));
    EXPECT_EQ(ENOSYS, errno);
}

TEST(open_without_openat2)
{
    refuse_openat2();
    check_resolution(cio__http_static_open);
    EXPECT_TRUE(cio__http_static_walking());
}

/* ---- Validators, preconditions ---------------------------------------------------- */

TEST(etags)
{
    struct stat st = {0};
    st.st_ino = 0x1234;
    st.st_size = 5000;
    st.st_mtim.tv_sec = 1700000000;
    st.st_mtim.tv_nsec = 5;
    char e[CIO__HTTP_ETAG_MAX], e2[CIO__HTTP_ETAG_MAX];
    int n = cio__http_etag(e, &st);
    EXPECT_EQ(strlen(e), n);
    EXPECT_STR_EQ("\"1234-1388-17979cfe362a0005\"", e);
    st.st_mtim.tv_nsec = 6; /* any change makes another tag */
    cio__http_etag(e2, &st);
    EXPECT_TRUE(strcmp(e, e2) != 0);
    st.st_mtim.tv_nsec = 5;
    st.st_ino = 0x1235; /* replaced by rename with the same size and time */
    cio__http_etag(e2, &st);
    EXPECT_TRUE(strcmp(e, e2) != 0);

    const char *t = "\"abc\"";
    EXPECT_TRUE(cio__http_etag_match("\"abc\"", t, false));
    EXPECT_TRUE(cio__http_etag_match("\"abc\"", t, true));
    EXPECT_TRUE(cio__http_etag_match("W/\"abc\"", t, false));
    EXPECT_FALSE(cio__http_etag_match("W/\"abc\"", t, true));
    EXPECT_TRUE(cio__http_etag_match("\"x\", \"abc\"", t, false));
    EXPECT_TRUE(cio__http_etag_match("\"x\",W/\"abc\" , \"y\"", t, false));
    EXPECT_TRUE(cio__http_etag_match(" * ", t, true));
    EXPECT_FALSE(cio__http_etag_match("\"abcd\"", t, false));
    EXPECT_FALSE(cio__http_etag_match("abc", t, false));
    EXPECT_FALSE(cio__http_etag_match("\"abc", t, false));
    EXPECT_FALSE(cio__http_etag_match("\"x\" junk, \"abc\"", t, false));
    EXPECT_FALSE(cio__http_etag_match("", t, false));
    EXPECT_FALSE(cio__http_etag_match(NULL, t, false));
}

TEST(preconditions)
{
    const char *et = "\"e1\"";
    int64_t mtime = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    const char *same = "Sun, 06 Nov 1994 08:49:37 GMT", *later = "Mon, 07 Nov 1994 08:49:37 GMT",
               *earlier = "Sat, 05 Nov 1994 08:49:37 GMT";
    EXPECT_EQ(0, cio__http_preconditions(NULL, NULL, NULL, NULL, et, mtime));
    /* If-None-Match */
    EXPECT_EQ(304, cio__http_preconditions(NULL, NULL, "\"e1\"", NULL, et, mtime));
    EXPECT_EQ(304, cio__http_preconditions(NULL, NULL, "W/\"e1\"", NULL, et, mtime));
    EXPECT_EQ(304, cio__http_preconditions(NULL, NULL, "*", NULL, et, mtime));
    EXPECT_EQ(0, cio__http_preconditions(NULL, NULL, "\"e2\"", NULL, et, mtime));
    /* If-Modified-Since */
    EXPECT_EQ(304, cio__http_preconditions(NULL, NULL, NULL, same, et, mtime));
    EXPECT_EQ(304, cio__http_preconditions(NULL, NULL, NULL, later, et, mtime));
    EXPECT_EQ(0, cio__http_preconditions(NULL, NULL, NULL, earlier, et, mtime));
    EXPECT_EQ(0, cio__http_preconditions(NULL, NULL, NULL, "garbage", et, mtime));
    /* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2), both ways. */
    EXPECT_EQ(0, cio__http_preconditions(NULL, NULL, "\"e2\"", later, et, mtime));
    EXPECT_EQ(304, cio__http_preconditions(NULL, NULL, "\"e1\"", earlier, et, mtime));
    /* If-Match (strong), If-Unmodified-Since */
    EXPECT_EQ(0, cio__http_preconditions("\"e1\"", NULL, NULL, NULL, et, mtime));
    EXPECT_EQ(412, cio__http_preconditions("W/\"e1\"", NULL, NULL, NULL, et, mtime));
    EXPECT_EQ(412, cio__http_preconditions("\"e2\"", NULL, NULL, NULL, et, mtime));
    EXPECT_EQ(0, cio__http_preconditions("*", NULL, NULL, NULL, et, mtime));
    EXPECT_EQ(0, cio__http_preconditions(NULL, same, NULL, NULL, et, mtime));
    EXPECT_EQ(412, cio__http_preconditions(NULL, earlier, NULL, NULL, et, mtime));
    EXPECT_EQ(0, cio__http_preconditions("\"e1\"", earlier, NULL, NULL, et, mtime));
    EXPECT_EQ(412, cio__http_preconditions("\"e2\"", NULL, "\"e1\"", NULL, et, mtime));

    /* If-Range: our strong tag, or exactly our date. */
    EXPECT_TRUE(cio__http_if_range(NULL, et, mtime));
    EXPECT_TRUE(cio__http_if_range("\"e1\"", et, mtime));
    EXPECT_TRUE(cio__http_if_range(" \"e1\" ", et, mtime));
    EXPECT_FALSE(cio__http_if_range("W/\"e1\"", et, mtime));
    EXPECT_FALSE(cio__http_if_range("\"e2\"", et, mtime));
    EXPECT_TRUE(cio__http_if_range(same, et, mtime));
    EXPECT_FALSE(cio__http_if_range(later, et, mtime));
    EXPECT_FALSE(cio__http_if_range("nonsense", et, mtime));
}

/* ---- Range ----------------------------------------------------------------------- */

static int range(const char *v, uint64_t size, size_t *n, struct cio__http_range *r)
{
    return cio__http_parse_range(v, size, r, 4, n);
}

TEST(ranges)
{
    struct cio__http_range r[4];
    size_t n;
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("bytes=0-499", 1000, &n, r));
    EXPECT_EQ(1, n);
    EXPECT_EQ(0, r[0].first);
    EXPECT_EQ(499, r[0].last);
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("bytes=500-", 1000, &n, r));
    EXPECT_EQ(500, r[0].first);
    EXPECT_EQ(999, r[0].last);
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("bytes=-200", 1000, &n, r));
    EXPECT_EQ(800, r[0].first);
    EXPECT_EQ(999, r[0].last);
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("bytes=-5000", 1000, &n, r)); /* the whole */
    EXPECT_EQ(0, r[0].first);
    EXPECT_EQ(999, r[0].last);
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("bytes=900-5000", 1000, &n, r)); /* clipped */
    EXPECT_EQ(999, r[0].last);
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes = 1-1", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("BYTES=1-1", 1000, &n, r));
    /* Several: kept in order for multipart. */
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("bytes=0-9, 20-29,-10", 1000, &n, r));
    EXPECT_EQ(3, n);
    EXPECT_EQ(20, r[1].first);
    EXPECT_EQ(990, r[2].first);
    /* Unsatisfiable ranges are dropped; none left: 416. */
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("bytes=2000-3000,0-0", 1000, &n, r));
    EXPECT_EQ(1, n);
    EXPECT_EQ(0, r[0].last);
    EXPECT_EQ(CIO__HTTP_RANGE_NONE, range("bytes=1000-", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_NONE, range("bytes=-0", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_NONE, range("bytes=0-", 0, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_NONE, range("bytes=99999999999999999999999-", 1000, &n, r));
    /* Bad syntax: the header is ignored (200). */
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range(NULL, 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes=", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes=,", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("items=0-1", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes=5-1", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes=a-1", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes=1-2x", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes=-", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes=1", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_IGNORE, range("bytes=0-1;x", 1000, &n, r));
    /* Too many, or overlapping past the size: the whole file, 200. */
    EXPECT_EQ(CIO__HTTP_RANGE_WHOLE, range("bytes=0-0,2-2,4-4,6-6,8-8", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_WHOLE, range("bytes=0-999,0-999", 1000, &n, r));
    EXPECT_EQ(CIO__HTTP_RANGE_OK, range("bytes=0-599,400-799", 1000, &n, r)); /* small overlap */
    EXPECT_EQ(2, n);
}

TEST(accept_encoding)
{
    EXPECT_FALSE(cio__http_accepts_gzip(NULL));
    EXPECT_FALSE(cio__http_accepts_gzip(""));
    EXPECT_TRUE(cio__http_accepts_gzip("gzip"));
    EXPECT_TRUE(cio__http_accepts_gzip("deflate, gzip, br"));
    EXPECT_TRUE(cio__http_accepts_gzip("GZIP;q=0.5"));
    EXPECT_TRUE(cio__http_accepts_gzip("x-gzip"));
    EXPECT_TRUE(cio__http_accepts_gzip("*"));
    EXPECT_TRUE(cio__http_accepts_gzip("gzip ; q=1.0"));
    EXPECT_TRUE(cio__http_accepts_gzip("gzip;q=0.001"));
    EXPECT_FALSE(cio__http_accepts_gzip("gzip;q=0"));
    EXPECT_FALSE(cio__http_accepts_gzip("gzip;q=0.000"));
    EXPECT_FALSE(cio__http_accepts_gzip("*, gzip;q=0"));
    EXPECT_FALSE(cio__http_accepts_gzip("*;q=0"));
    EXPECT_FALSE(cio__http_accepts_gzip("identity"));
    EXPECT_FALSE(cio__http_accepts_gzip("deflate, br"));
    EXPECT_FALSE(cio__http_accepts_gzip("gzipx"));
}

TEST(listing_text)
{
    struct cio__http_buf b = {0};
    EXPECT_TRUE(cio__http_html_escape(&b, "<a href=\"x\">'&'</a>"));
    EXPECT_STR_EQ("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;", b.p);
    b.len = 0;
    EXPECT_TRUE(cio__http_url_escape(&b, "a b/\"<c>?#%.~_-Z9\xc3\xa9"));
    EXPECT_STR_EQ("a%20b%2F%22%3Cc%3E%3F%23%25.~_-Z9%C3%A9", b.p);
    b.len = 0;
    for (int i = 0; i < 1000; i++) EXPECT_TRUE(cio__http_buf_add(&b, "0123456789", 10));
    EXPECT_EQ(10000, b.len);
    EXPECT_EQ(10000, strlen(b.p));
    free(b.p);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
