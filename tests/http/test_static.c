/* Static files (src/http/static.c, static_parse.c, mime.c): the MIME
 * table, request path checks, resolution below a root with openat2 and
 * with the walking fallback (a case refuses openat2 with a seccomp filter,
 * as a kernel before 5.6 would, so the fallback runs on every kernel),
 * entity tags, preconditions, Range and If-Range, Accept-Encoding. */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <math.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

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
    EXPECT_STR_EQ("ENOENT", clean("a\x01"
                                  "b",
                                  b, sizeof b));
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
    EXPECT_FALSE(cio__http_static_raw_refused("/%2e%2e"));    /* refused after decoding */
    EXPECT_TRUE(cio__http_static_raw_refused("/a%00.txt"));   /* encoded NUL */
    EXPECT_TRUE(cio__http_static_raw_refused("/a%5c..%5cb")); /* encoded backslash */
    EXPECT_TRUE(cio__http_static_raw_refused("/a%5C..%5Cb"));
    EXPECT_TRUE(cio__http_static_raw_refused("/a\\b")); /* raw backslash */
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
    for (int i = 0; i < 1000; i++)
        EXPECT_TRUE(cio__http_buf_add(&b, "0123456789", 10));
    EXPECT_EQ(10000, b.len);
    EXPECT_EQ(10000, strlen(b.p));
    free(b.p);
}

/* ---- End to end: a server on 127.0.0.1, clients in a pool thread ----------------- */

/* The serving tree: a fresh one per case. */
struct site {
    struct tree t;
    char big[256];
};

static void write_bytes(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_TRUE(fd >= 0);
    EXPECT_EQ(n, write(fd, data, n));
    close(fd);
}

static void make_site(struct site *s)
{
    make_tree(&s->t);
    char p[256];
#define P(rel) (snprintf(p, sizeof p, "%s/%s", s->t.root, rel), p)
    write_file(P("index.html"), "<h1>home</h1>\n");
    write_file(P("style.css"), "body { color: red; }\n");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "gzip -9 -k -n '%s'", P("style.css"));
    EXPECT_OK(system(cmd));
    write_file(P("sub/index.htm"), "not the index");
    write_file(P("sub/<b>&\"q\".txt"), "escaped");
    write_file(P("sub/sp ace.txt"), "space");
    EXPECT_OK(mkdir(P("sub/inner"), 0755));
    static unsigned char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
    write_bytes(P("big.bin"), big, sizeof big);
    snprintf(s->big, sizeof s->big, "%s", p);
#undef P
}

struct e2e;
typedef void (*client_fn)(struct e2e *);
struct e2e {
    cio_http_app *app;
    cio_http_server_options opts;
    uint16_t port;
    client_fn client;
    void *arg;
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
    EXPECT_OK(cio_http_server_new(e->app, &a, &e->opts, &srv));
    EXPECT_OK(cio_http_server_addr(srv, &a));
    e->port = cio_addr_port(&a);
    EXPECT_OK(cio_to_thread(client_thread, e, NULL));
    EXPECT_OK(cio_http_server_close(srv, 5));
    cio_scope_end(&sc);
    return 0;
}

/* Serves app while client(e) runs in a pool thread; checks descriptors. */
static void run_e2e(cio_http_app *app, client_fn client, void *arg)
{
    int before = test_fd_baseline();
    struct e2e e = {.app = app, .opts = CIO_HTTP_SERVER_OPTIONS_INIT, .client = client, .arg = arg};
    EXPECT_OK(cio_run(serve_main, &e, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* A response read off a raw connection. */
struct resp {
    int status;
    char raw[1 << 21]; /* the whole exchange as received */
    size_t len;
    char *body; /* into raw */
    size_t body_len;
};

static int connect_port(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(fd >= 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EXPECT_OK(connect(fd, (struct sockaddr *)&sin, sizeof sin));
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends request (which should ask Connection: close) and reads until the
 * server closes. */
static void exchange(struct e2e *e, const char *request, size_t n, struct resp *r)
{
    int fd = connect_port(e->port);
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

/* GET (or another method) path with extra header lines. */
static struct resp *req(struct e2e *e, const char *method, const char *path, const char *headers)
{
    static struct resp r;
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n",
                     method, path, headers ? headers : "");
    exchange(e, buf, (size_t)n, &r);
    return &r;
}

/* The value of header name in r (case-insensitive), copied; NULL if absent. */
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
            char *e = strstr(v, "\r\n");
            size_t vl = (size_t)(e - v);
            if (vl >= sizeof val) vl = sizeof val - 1;
            memcpy(val, v, vl);
            val[vl] = '\0';
            return val;
        }
    }
    return NULL;
}

#define EXPECT_BODY(text, r)                                                                       \
    do {                                                                                           \
        EXPECT_EQ(strlen(text), (r)->body_len);                                                    \
        EXPECT_TRUE(memcmp((r)->body, text, strlen(text)) == 0);                                   \
    } while (0)

/* ---- cio_http_response_file --------------------------------------------------------- */

struct file_ctx {
    struct site *site;
    int last_rc;
};
static struct file_ctx file_ctx;

static int file_handler(cio_http_request *rq, cio_http_response *res, void *arg)
{
    (void)arg;
    char path[512];
    const char *q = cio_http_request_query_string(rq);
    snprintf(path, sizeof path, "%s/%s", file_ctx.site->t.root, q);
    int rc = cio_http_response_file(rq, res, path);
    if (rc == -ENOENT || rc == -EISDIR || rc == -EACCES) {
        EXPECT_FALSE(cio_http_response_is_started(res));
        char detail[32];
        snprintf(detail, sizeof detail, "%s", cio_err_name(rc));
        return cio_http_response_error(res, 404, detail);
    }
    EXPECT_OK(rc);
    /* Once started: -EALREADY. */
    EXPECT_ERR(-EALREADY, cio_http_response_file(rq, res, path));
    return 0;
}

static int file_args_handler(cio_http_request *rq, cio_http_response *res, void *arg)
{
    (void)arg;
    EXPECT_ERR(-EINVAL, cio_http_response_file(NULL, res, "/etc/hostname"));
    EXPECT_ERR(-EINVAL, cio_http_response_file(rq, NULL, "/etc/hostname"));
    EXPECT_ERR(-EINVAL, cio_http_response_file(rq, res, NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_file(rq, res, ""));
    EXPECT_FALSE(cio_http_response_is_started(res));
    return cio_http_response_text(res, 200, "args ok");
}

static void file_client(struct e2e *e)
{
    struct resp *r = req(e, "GET", "/file?a.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("hello", r);
    EXPECT_STR_EQ("text/plain; charset=utf-8", hdr(r, "Content-Type"));
    EXPECT_STR_EQ("5", hdr(r, "Content-Length"));
    EXPECT_STR_EQ("bytes", hdr(r, "Accept-Ranges"));
    char etag[CIO__HTTP_ETAG_MAX], lm[40];
    snprintf(etag, sizeof etag, "%s", hdr(r, "ETag"));
    snprintf(lm, sizeof lm, "%s", hdr(r, "Last-Modified"));
    EXPECT_EQ('"', etag[0]);
    struct stat st;
    char p[256];
    snprintf(p, sizeof p, "%s/a.txt", file_ctx.site->t.root);
    EXPECT_OK(stat(p, &st));
    char want[CIO__HTTP_ETAG_MAX];
    cio__http_etag(want, &st);
    EXPECT_STR_EQ(want, etag);
    char d[32];
    cio__http_format_date(d, st.st_mtim.tv_sec);
    EXPECT_STR_EQ(d, lm);

    r = req(e, "HEAD", "/file?a.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_EQ(0, r->body_len);
    EXPECT_STR_EQ("5", hdr(r, "Content-Length"));
    EXPECT_STR_EQ(etag, hdr(r, "ETag"));

    char h[256];
    snprintf(h, sizeof h, "If-None-Match: %s\r\n", etag);
    r = req(e, "GET", "/file?a.txt", h);
    EXPECT_EQ(304, r->status);
    EXPECT_EQ(0, r->body_len);
    EXPECT_STR_EQ(etag, hdr(r, "ETag"));
    EXPECT_PTR_EQ(NULL, hdr(r, "Content-Type"));

    r = req(e, "GET", "/file?a.txt", "Range: bytes=1-3\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_BODY("ell", r);
    EXPECT_STR_EQ("bytes 1-3/5", hdr(r, "Content-Range"));

    r = req(e, "GET", "/file?missing.txt", NULL);
    EXPECT_EQ(404, r->status);
    EXPECT_BODY("404 Not Found\nENOENT\n", r);
    r = req(e, "GET", "/file?sub", NULL);
    EXPECT_BODY("404 Not Found\nEISDIR\n", r);
    r = req(e, "GET", "/file?fifo", NULL);
    EXPECT_BODY("404 Not Found\nEACCES\n", r);
    /* No root check: the caller's path is used as it is. */
    r = req(e, "GET", "/file?../outside.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("secret", r);

    r = req(e, "GET", "/args", NULL);
    EXPECT_BODY("args ok", r);
}

TEST(response_file)
{
    struct site s;
    make_site(&s);
    file_ctx.site = &s;
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/file", file_handler, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/args", file_args_handler, NULL));
    run_e2e(app, file_client, NULL);
    EXPECT_OK(cio_http_app_free(app));
    remove_tree(&s.t);
}

/* ---- cio_http_app_static ----------------------------------------------------------- */

static struct site *cur_site;

/* An app serving the site under prefix with opts. */
static cio_http_app *static_app(const char *prefix, const cio_http_static_options *opts)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_static(app, prefix, cur_site->t.root, opts));
    return app;
}

static void serve_site(const char *prefix, const cio_http_static_options *opts, client_fn fn)
{
    int before = test_fd_baseline();
    cio_http_app *app = static_app(prefix, opts);
    run_e2e(app, fn, NULL);
    EXPECT_OK(cio_http_app_free(app));
    EXPECT_EQ(before, test_fd_count()); /* the root descriptor went with the app */
}

static void get_head_client(struct e2e *e)
{
    struct resp *r = req(e, "GET", "/a.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("hello", r);
    EXPECT_STR_EQ("text/plain; charset=utf-8", hdr(r, "Content-Type"));
    EXPECT_STR_EQ("bytes", hdr(r, "Accept-Ranges"));
    EXPECT_TRUE(hdr(r, "ETag") && hdr(r, "Last-Modified"));
    EXPECT_PTR_EQ(NULL, hdr(r, "Cache-Control"));
    r = req(e, "HEAD", "/sub/deeper/c.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_EQ(0, r->body_len);
    EXPECT_STR_EQ("3", hdr(r, "Content-Length"));
    /* The big file through sendfile, whole. */
    r = req(e, "GET", "/big.bin", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_EQ(1 << 20, r->body_len);
    for (size_t i = 0; i < r->body_len; i += 4099)
        EXPECT_EQ((unsigned char)(i * 7 + i / 251), (unsigned char)r->body[i]);
    EXPECT_STR_EQ("application/octet-stream", hdr(r, "Content-Type"));
    /* Index file, redirect of a directory without '/', query kept. */
    r = req(e, "GET", "/", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("<h1>home</h1>\n", r);
    EXPECT_STR_EQ("text/html; charset=utf-8", hdr(r, "Content-Type"));
    r = req(e, "GET", "/sub", NULL);
    EXPECT_EQ(301, r->status);
    EXPECT_STR_EQ("/sub/", hdr(r, "Location"));
    r = req(e, "GET", "/sub/inner?x=1", NULL);
    EXPECT_EQ(301, r->status);
    EXPECT_STR_EQ("/sub/inner/?x=1", hdr(r, "Location"));
    /* No index.html, listing off: 403. */
    r = req(e, "GET", "/sub/", NULL);
    EXPECT_EQ(403, r->status);
    r = req(e, "GET", "/missing", NULL);
    EXPECT_EQ(404, r->status);
    r = req(e, "GET", "/a.txt/", NULL);
    EXPECT_EQ(404, r->status);
    r = req(e, "GET", "/fifo", NULL);
    EXPECT_EQ(404, r->status);
    r = req(e, "GET", "/sub/sp%20ace.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("space", r);
    /* Other methods: 405 with Allow. */
    r = req(e, "POST", "/a.txt", "Content-Length: 0\r\n");
    EXPECT_EQ(405, r->status);
    EXPECT_STR_EQ("GET, HEAD", hdr(r, "Allow"));
    r = req(e, "DELETE", "/a.txt", NULL);
    EXPECT_EQ(405, r->status);
}

TEST(static_get_head_index)
{
    struct site s;
    make_site(&s);
    cur_site = &s;
    serve_site("/", NULL, get_head_client);
    remove_tree(&s.t);
}

static void options_client(struct e2e *e)
{
    /* index "index.htm", listing on, max_age, no_precompressed. */
    struct resp *r = req(e, "GET", "/files/sub/", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("not the index", r);
    EXPECT_STR_EQ("max-age=60", hdr(r, "Cache-Control"));
    r = req(e, "GET", "/files/sub/inner/", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_STR_EQ("text/html; charset=utf-8", hdr(r, "Content-Type"));
    EXPECT_TRUE(strstr(r->body, "Index of /files/sub/inner/") != NULL);
    EXPECT_TRUE(strstr(r->body, "<a href=\"../\">") != NULL);
    r = req(e, "GET", "/files/", NULL); /* the root: no index.htm there */
    EXPECT_EQ(200, r->status);
    EXPECT_TRUE(strstr(r->body, "<a href=\"a.txt\">a.txt</a>") != NULL);
    EXPECT_TRUE(strstr(r->body, "<a href=\"sub/\">sub/</a>") != NULL);
    EXPECT_TRUE(strstr(r->body, "href=\"../\"") == NULL);
    EXPECT_TRUE(strstr(r->body, "fifo") == NULL);    /* not a file */
    EXPECT_TRUE(strstr(r->body, "link_in") == NULL); /* unfollowed symlinks */
    r = req(e, "GET", "/files/sub/inner/../", NULL);
    EXPECT_TRUE(r->status == 400 || r->status == 404);
    r = req(e, "GET", "/files/sub/../sub/", NULL);
    EXPECT_TRUE(r->status == 400 || r->status == 404);
    r = req(e, "GET", "/files", NULL);
    EXPECT_EQ(301, r->status);
    EXPECT_STR_EQ("/files/", hdr(r, "Location"));
    r = req(e, "GET", "/other/a.txt", NULL);
    EXPECT_EQ(404, r->status);
    r = req(e, "GET", "/files/style.css", "Accept-Encoding: gzip\r\n");
    EXPECT_EQ(200, r->status);
    EXPECT_PTR_EQ(NULL, hdr(r, "Content-Encoding"));
    EXPECT_BODY("body { color: red; }\n", r);
}

static void listing_escape_client(struct e2e *e)
{
    struct resp *r = req(e, "GET", "/sub/", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_TRUE(
        strstr(r->body, "<a href=\"%3Cb%3E%26%22q%22.txt\">&lt;b&gt;&amp;&quot;q&quot;.txt</a>") !=
        NULL);
    EXPECT_TRUE(strstr(r->body, "<a href=\"sp%20ace.txt\">sp ace.txt</a>") != NULL);
    EXPECT_TRUE(strstr(r->body, "<b>") == NULL);
    r = req(e, "GET", "/sub/%3Cb%3E%26%22q%22.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("escaped", r);
}

TEST(static_options_listing)
{
    struct site s;
    make_site(&s);
    cur_site = &s;
    serve_site("/files",
               &CIO_HTTP_STATIC_OPTIONS(.index = "index.htm", .listing = true, .max_age = 60,
                                        .no_precompressed = true),
               options_client);
    serve_site("/", &CIO_HTTP_STATIC_OPTIONS(.index = "", .listing = true), listing_escape_client);
    remove_tree(&s.t);
}

static void conditional_client(struct e2e *e)
{
    struct resp *r = req(e, "GET", "/a.txt", NULL);
    char etag[CIO__HTTP_ETAG_MAX], lm[40], h[512];
    snprintf(etag, sizeof etag, "%s", hdr(r, "ETag"));
    snprintf(lm, sizeof lm, "%s", hdr(r, "Last-Modified"));
    snprintf(h, sizeof h, "If-None-Match: \"other\", %s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(304, r->status);
    EXPECT_EQ(0, r->body_len);
    EXPECT_STR_EQ(etag, hdr(r, "ETag"));
    EXPECT_STR_EQ(lm, hdr(r, "Last-Modified"));
    r = req(e, "HEAD", "/a.txt", h);
    EXPECT_EQ(304, r->status);
    snprintf(h, sizeof h, "If-Modified-Since: %s\r\n", lm);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(304, r->status);
    r = req(e, "GET", "/a.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n");
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("hello", r);
    /* If-None-Match wins over If-Modified-Since. */
    snprintf(h, sizeof h, "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", lm);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(200, r->status);
    snprintf(h, sizeof h,
             "If-None-Match: %s\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(304, r->status);
    r = req(e, "GET", "/a.txt", "If-Match: \"other\"\r\n");
    EXPECT_EQ(412, r->status);
    snprintf(h, sizeof h, "If-Match: %s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(200, r->status);
    r = req(e, "GET", "/a.txt", "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n");
    EXPECT_EQ(412, r->status);
}

static void range_client(struct e2e *e)
{
    struct resp *r = req(e, "GET", "/a.txt", "Range: bytes=0-1\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_BODY("he", r);
    EXPECT_STR_EQ("bytes 0-1/5", hdr(r, "Content-Range"));
    EXPECT_STR_EQ("2", hdr(r, "Content-Length"));
    r = req(e, "GET", "/a.txt", "Range: bytes=-2\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_BODY("lo", r);
    r = req(e, "GET", "/a.txt", "Range: bytes=3-\r\n");
    EXPECT_BODY("lo", r);
    r = req(e, "HEAD", "/a.txt", "Range: bytes=3-\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_EQ(0, r->body_len);
    EXPECT_STR_EQ("2", hdr(r, "Content-Length"));
    r = req(e, "GET", "/big.bin", "Range: bytes=1000000-1000009\r\n");
    EXPECT_EQ(206, r->status);
    EXPECT_EQ(10, r->body_len);
    for (size_t i = 0; i < 10; i++) {
        size_t k = 1000000 + i;
        EXPECT_EQ((unsigned char)(k * 7 + k / 251), (unsigned char)r->body[i]);
    }
    /* Unsatisfiable: 416 with the length. */
    r = req(e, "GET", "/a.txt", "Range: bytes=5-\r\n");
    EXPECT_EQ(416, r->status);
    EXPECT_STR_EQ("bytes */5", hdr(r, "Content-Range"));
    /* Bad syntax: ignored. Overlap past the size: the whole file. */
    r = req(e, "GET", "/a.txt", "Range: bytes=3-1\r\n");
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("hello", r);
    r = req(e, "GET", "/a.txt", "Range: bytes=0-4,0-4\r\n");
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("hello", r);
    /* Several: multipart/byteranges. */
    r = req(e, "GET", "/a.txt", "Range: bytes=0-0,3-4\r\n");
    EXPECT_EQ(206, r->status);
    const char *ct = hdr(r, "Content-Type");
    EXPECT_TRUE(strncmp(ct, "multipart/byteranges; boundary=", 31) == 0);
    char boundary[80], want[512];
    snprintf(boundary, sizeof boundary, "%s", ct + 31);
    snprintf(
        want, sizeof want,
        "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-0/5\r\n\r\nh"
        "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes "
        "3-4/5\r\n\r\nlo"
        "\r\n--%s--\r\n",
        boundary, boundary, boundary);
    EXPECT_BODY(want, r);
    char cl[24];
    snprintf(cl, sizeof cl, "%zu", strlen(want));
    EXPECT_STR_EQ(cl, hdr(r, "Content-Length"));
    /* If-Range: the current tag keeps the range, another gives 200. */
    r = req(e, "GET", "/a.txt", NULL);
    char etag[CIO__HTTP_ETAG_MAX], h[256];
    snprintf(etag, sizeof etag, "%s", hdr(r, "ETag"));
    snprintf(h, sizeof h, "Range: bytes=0-1\r\nIf-Range: %s\r\n", etag);
    r = req(e, "GET", "/a.txt", h);
    EXPECT_EQ(206, r->status);
    r = req(e, "GET", "/a.txt", "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n");
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("hello", r);
}

TEST(static_conditional_and_ranges)
{
    struct site s;
    make_site(&s);
    cur_site = &s;
    serve_site("/", NULL, conditional_client);
    serve_site("/", NULL, range_client);
    remove_tree(&s.t);
}

static void gzip_client(struct e2e *e)
{
    struct resp *r = req(e, "GET", "/style.css", "Accept-Encoding: br, gzip\r\n");
    EXPECT_EQ(200, r->status);
    EXPECT_STR_EQ("gzip", hdr(r, "Content-Encoding"));
    EXPECT_STR_EQ("Accept-Encoding", hdr(r, "Vary"));
    EXPECT_STR_EQ("text/css; charset=utf-8", hdr(r, "Content-Type"));
    EXPECT_EQ(0x1f, (unsigned char)r->body[0]);
    EXPECT_EQ(0x8b, (unsigned char)r->body[1]);
    char etag_gz[CIO__HTTP_ETAG_MAX];
    snprintf(etag_gz, sizeof etag_gz, "%s", hdr(r, "ETag"));
    r = req(e, "GET", "/style.css", NULL);
    EXPECT_PTR_EQ(NULL, hdr(r, "Content-Encoding"));
    EXPECT_BODY("body { color: red; }\n", r);
    EXPECT_TRUE(strcmp(etag_gz, hdr(r, "ETag")) != 0); /* another representation */
    r = req(e, "GET", "/style.css", "Accept-Encoding: gzip;q=0\r\n");
    EXPECT_PTR_EQ(NULL, hdr(r, "Content-Encoding"));
    r = req(e, "GET", "/a.txt", "Accept-Encoding: gzip\r\n"); /* no a.txt.gz */
    EXPECT_PTR_EQ(NULL, hdr(r, "Content-Encoding"));
    EXPECT_BODY("hello", r);
}

TEST(static_precompressed)
{
    struct site s;
    make_site(&s);
    cur_site = &s;
    serve_site("/", NULL, gzip_client);
    remove_tree(&s.t);
}

/* Every way out of the root: 404 (or 400 from the connection code for
 * what it refuses before any handler), never the secret. */
static void traversal_client(struct e2e *e)
{
    static const char *const paths[] = {
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E/outside.txt",
        "/.%2e/outside.txt",
        "/sub/../../outside.txt",
        "/sub/%2e%2e/%2e%2e/outside.txt",
        "/sub%2f..%2f..%2foutside.txt",
        "/..%2foutside.txt",
        "/a.txt%00.html",
        "/%00",
        "/..\\outside.txt",
        "/..%5coutside.txt",
        "/sub%5c..%5c..%5coutside.txt",
        "/link_out",
        "/link_abs",
        "/link_up",
        "/link_in",
        "/link_dir/b.txt",
        "/./a.txt",
        "/sub/./b.txt",
        "/%2e/a.txt",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct resp *r = req(e, "GET", paths[i], NULL);
        if (r->status != 404 && r->status != 400) FAIL("%s: %d", paths[i], r->status);
        EXPECT_TRUE(memmem(r->raw, r->len, "secret", 6) == NULL);
        EXPECT_TRUE(memmem(r->raw, r->len, "root:", 5) == NULL);
    }
    /* The same escapes stay refused with symlinks followed; those inside
     * the root then work. */
}

static void follow_client(struct e2e *e)
{
    static const char *const refused[] = {"/link_out", "/link_abs", "/link_up",
                                          "/%2e%2e/outside.txt"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct resp *r = req(e, "GET", refused[i], NULL);
        if (r->status != 404) FAIL("%s: %d", refused[i], r->status);
        EXPECT_TRUE(memmem(r->raw, r->len, "secret", 6) == NULL);
    }
    struct resp *r = req(e, "GET", "/link_in", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("bee", r);
    r = req(e, "GET", "/link_dir/deeper/c.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("sea", r);
    r = req(e, "GET", "/sub/deeper/link_up_in", NULL);
    EXPECT_BODY("bee", r);
}

TEST(static_traversal)
{
    struct site s;
    make_site(&s);
    cur_site = &s;
    serve_site("/", NULL, traversal_client);
    serve_site("/", &CIO_HTTP_STATIC_OPTIONS(.follow_symlinks = true), follow_client);
    remove_tree(&s.t);
}

/* Without openat2 (a kernel before 5.6): the walk serves the same. */
TEST(static_traversal_without_openat2)
{
    refuse_openat2();
    struct site s;
    make_site(&s);
    cur_site = &s;
    serve_site("/", NULL, traversal_client);
    serve_site("/", &CIO_HTTP_STATIC_OPTIONS(.follow_symlinks = true), follow_client);
    serve_site("/", NULL, get_head_client);
    EXPECT_TRUE(cio__http_static_walking());
    remove_tree(&s.t);
}

/* Mounted in a sub-application: the route's rest of the path is what is
 * served. */
static void mounted_client(struct e2e *e)
{
    struct resp *r = req(e, "GET", "/api/static/a.txt", NULL);
    EXPECT_EQ(200, r->status);
    EXPECT_BODY("hello", r);
    r = req(e, "GET", "/api/static", NULL);
    EXPECT_EQ(301, r->status);
    EXPECT_STR_EQ("/api/static/", hdr(r, "Location"));
    r = req(e, "GET", "/api/static/", NULL);
    EXPECT_BODY("<h1>home</h1>\n", r);
}

TEST(static_mounted)
{
    struct site s;
    make_site(&s);
    cur_site = &s;
    int before = test_fd_baseline();
    cio_http_app *app, *sub;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_new(&sub));
    EXPECT_OK(cio_http_app_static(sub, "/static", s.t.root, NULL));
    EXPECT_OK(cio_http_app_mount(app, "/api", sub));
    run_e2e(app, mounted_client, NULL);
    EXPECT_OK(cio_http_app_free(app));
    EXPECT_EQ(before, test_fd_count());
    remove_tree(&s.t);
}

TEST(static_args)
{
    struct site s;
    make_site(&s);
    int before = test_fd_count();
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    const char *d = s.t.root;
    EXPECT_ERR(-EINVAL, cio_http_app_static(NULL, "/", d, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/", NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, NULL, d, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "", d, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "files", d, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/files/", d, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/{x}", d, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/a//b", d, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/a b", d, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/a?b", d, NULL));
    cio_http_static_options bad = {0};
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/", d, &bad));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/", d, &CIO_HTTP_STATIC_OPTIONS(.index = "a/b")));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/", d, &CIO_HTTP_STATIC_OPTIONS(.index = "..")));
    EXPECT_ERR(-EINVAL, cio_http_app_static(app, "/", d, &CIO_HTTP_STATIC_OPTIONS(.max_age = NAN)));
    struct {
        cio_http_static_options o;
        char extra[16];
    } newer = {.o = CIO_HTTP_STATIC_OPTIONS_INIT};
    newer.o.size = sizeof newer;
    newer.extra[3] = 1;
    EXPECT_ERR(-E2BIG, cio_http_app_static(app, "/", d, &newer.o));
    newer.extra[3] = 0; /* zero past the known fields: accepted */
    EXPECT_OK(cio_http_app_static(app, "/zero", d, &newer.o));
    char p[256];
    snprintf(p, sizeof p, "%s/missing", d);
    EXPECT_ERR(-ENOENT, cio_http_app_static(app, "/", p, NULL));
    snprintf(p, sizeof p, "%s/a.txt", d);
    EXPECT_ERR(-ENOTDIR, cio_http_app_static(app, "/", p, NULL));
    EXPECT_OK(cio_http_app_static(app, "/", d, NULL));
    EXPECT_ERR(-EEXIST, cio_http_app_static(app, "/", d, NULL));
    EXPECT_OK(cio_http_app_static(app, "/x/y", d, NULL));
    EXPECT_OK(cio_http_app_free(app));
    EXPECT_EQ(before, test_fd_count());
    remove_tree(&s.t);
}

/* ---- curl: ranges, --compressed, the whole big file --------------------------------- */

static bool have_curl(void)
{
    return system("curl --version >/dev/null 2>&1") == 0;
}

static void curl_client(struct e2e *e)
{
    char cmd[2048], out[256];
    snprintf(out, sizeof out, "%s/curl.out", cur_site->t.base);
    /* The whole 1 MiB file, compared byte for byte. */
    snprintf(cmd, sizeof cmd, "curl -sf -o '%s' http://127.0.0.1:%u/big.bin && cmp -s '%s' '%s'",
             out, e->port, out, cur_site->big);
    EXPECT_OK(system(cmd));
    /* A range. */
    snprintf(cmd, sizeof cmd, "test \"$(curl -sf -r 1-3 http://127.0.0.1:%u/a.txt)\" = ell",
             e->port);
    EXPECT_OK(system(cmd));
    /* --compressed: curl asks for gzip and decodes the .gz sibling. */
    snprintf(
        cmd, sizeof cmd,
        "test \"$(curl -sf --compressed http://127.0.0.1:%u/style.css)\" = 'body { color: red; }'"
        " && curl -sf --compressed -D - -o /dev/null http://127.0.0.1:%u/style.css"
        " | grep -qi '^content-encoding: gzip'",
        e->port, e->port);
    EXPECT_OK(system(cmd));
    /* Resuming a download (-C -: a Range from the partial file's size). */
    snprintf(cmd, sizeof cmd,
             "head -c 1000 '%s' > '%s' && curl -sf -C - -o '%s' http://127.0.0.1:%u/big.bin"
             " && cmp -s '%s' '%s'",
             cur_site->big, out, out, e->port, out, cur_site->big);
    EXPECT_OK(system(cmd));
    /* --path-as-is keeps the ".." curl would otherwise remove. */
    snprintf(cmd, sizeof cmd,
             "test \"$(curl -s -o /dev/null -w '%%{http_code}' --path-as-is "
             "http://127.0.0.1:%u/../outside.txt)\" -ge 400",
             e->port);
    EXPECT_OK(system(cmd));
}

TEST(static_curl)
{
    if (!have_curl()) {
        printf("skip: no curl\n");
        return;
    }
    struct site s;
    make_site(&s);
    cur_site = &s;
    serve_site("/", NULL, curl_client);
    remove_tree(&s.t);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
