/* Static files: cio_http_app_static (a directory served under a prefix),
 * cio_http_response_file (one file), and the pure parts they are built on
 * (path checks, resolution below a root, ETags and preconditions, Range).
 *
 * Per request the file path costs: one openat2 (or openat per component on
 * kernels before 5.6), one fstat, sendfile, close. No allocation: the path
 * is cleaned into a buffer on the task's stack, the header values are
 * formatted there too. The precompressed sibling costs one more openat2,
 * only when the client accepts gzip.
 *
 * Traversal: the request path is checked first (no "." or ".." segment,
 * no backslash, no NUL or control byte, raw or percent-encoded), and then
 * the kernel resolves it below the root descriptor with RESOLVE_BENEATH,
 * which also stops symlinks (and ".." inside their targets) from leaving
 * the root. Either check alone would keep requests inside; both are kept
 * so that a mistake in one is not a hole. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/opts.h"
#include "app.h"
#include "static.h"

/* ---- Sending a file ------------------------------------------------------------- */

struct static_dir {
    int rootfd;  /* O_PATH | O_DIRECTORY */
    char *index; /* NULL: none */
    bool listing, precompressed, follow;
    double max_age;
};

static bool is_head(cio_http_request *req)
{
    const char *m = cio_http_request_method(req);
    return m && strcmp(m, "HEAD") == 0;
}

/* Sends [first, last] of fd, or the whole file; the response was begun. */
static int send_body(cio_http_response *res, int fd, uint64_t first, uint64_t len)
{
    return len ? cio__http_response_sendfile(res, fd, (off_t)first, (size_t)len) : 0;
}

/* multipart/byteranges (RFC 9110 14.6): each part's header, the bytes,
 * and the closing delimiter; Content-Length counted beforehand. */
/* The head of part i of a multipart/byteranges body (RFC 9110 14.6). */
static int part_head(char *head, size_t room, size_t i, const char *boundary, const char *type,
                     const struct cio__http_range *r, uint64_t size)
{
    return snprintf(head, room,
                    "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
                    i ? "\r\n" : "", boundary, type, (unsigned long long)r->first,
                    (unsigned long long)r->last, (unsigned long long)size);
}

static int send_multipart(cio_http_request *req, cio_http_response *res, int fd, uint64_t size,
                          const char *type, const struct cio__http_range *r, size_t n)
{
    char boundary[33];
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        /* No entropy yet (early boot): the file's size and the time make a
         * boundary as unlikely in the body. */
        uint64_t x = size ^ (uint64_t)time(NULL) * 0x9e3779b97f4a7c15u;
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(x >> (i % 8 * 8)) ^ (unsigned char)i;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        sprintf(boundary + 2 * i, "%02x", rnd[i]);
    char ct[80];
    snprintf(ct, sizeof ct, "multipart/byteranges; boundary=%s", boundary);
    char head[256];
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int hl = part_head(head, sizeof head, i, boundary, type, &r[i], size);
        total += (uint64_t)hl + (r[i].last - r[i].first + 1);
    }
    int tl = snprintf(head, sizeof head, "\r\n--%s--\r\n", boundary);
    total += (uint64_t)tl;
    int rc;
    if ((rc = cio_http_response_status(res, 206)) < 0 ||
        (rc = cio_http_response_set_header(res, "Content-Type", ct)) < 0 ||
        (rc = cio_http_response_begin(res, (int64_t)total)) < 0)
        return rc;
    /* For HEAD too: the connection drops the body but counts it against
     * the declared length. */
    for (size_t i = 0; i < n; i++) {
        int hl = part_head(head, sizeof head, i, boundary, type, &r[i], size);
        if ((rc = cio_http_response_write(res, head, (size_t)hl)) < 0 ||
            (rc = send_body(res, fd, r[i].first, r[i].last - r[i].first + 1)) < 0)
            return rc;
    }
    tl = snprintf(head, sizeof head, "\r\n--%s--\r\n", boundary);
    if ((rc = cio_http_response_write(res, head, (size_t)tl)) < 0) return rc;
    return cio_http_response_end(res);
}

#define MAX_RANGES 32

/* An entity-tag list that may be split over several field lines (RFC
 * 9110 5.3: one list, the lines joined with commas): the one line as
 * received when there is one (no copy), else the first 8 joined in the
 * request's memory. */
static const char *header_list(cio_http_request *req, const char *name)
{
    const char *v[8];
    size_t n = cio_http_request_headers(req, name, v, 8);
    if (n <= 1) return n ? v[0] : NULL;
    if (n > 8) n = 8;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 2;
    char *s = cio__http_alloc(req, len + 1);
    if (!s) return v[0];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (i) {
            s[o++] = ',';
            s[o++] = ' ';
        }
        memcpy(s + o, v[i], l);
        o += l;
    }
    s[o] = '\0';
    return s;
}

/* Answers req with the open regular file fd (st its status): validators,
 * preconditions, Range. type: the Content-Type; encoding: "gzip" for a
 * precompressed sibling, else NULL. The caller closes fd. */
static int serve_fd(cio_http_request *req, cio_http_response *res, int fd, const struct stat *st,
                    const char *type, const char *encoding, double max_age)
{
    char etag[CIO__HTTP_ETAG_MAX], date[32], buf[80];
    cio__http_etag(etag, st);
    int64_t mtime = (int64_t)st->st_mtim.tv_sec;
    cio__http_format_date(date, mtime);
    uint64_t size = (uint64_t)st->st_size;
    int rc;
    if ((rc = cio_http_response_set_header(res, "ETag", etag)) < 0 ||
        (rc = cio_http_response_set_header(res, "Last-Modified", date)) < 0)
        return rc;
    if (max_age > 0) {
        snprintf(buf, sizeof buf, "max-age=%.0f", max_age < 1e15 ? max_age : 1e15);
        if ((rc = cio_http_response_set_header(res, "Cache-Control", buf)) < 0) return rc;
    }
    if (encoding && ((rc = cio_http_response_set_header(res, "Content-Encoding", encoding)) < 0 ||
                     (rc = cio_http_response_set_header(res, "Vary", "Accept-Encoding")) < 0))
        return rc;
    int pre =
        cio__http_preconditions(header_list(req, "If-Match"),
                                cio_http_request_header(req, "If-Unmodified-Since"),
                                header_list(req, "If-None-Match"),
                                cio_http_request_header(req, "If-Modified-Since"), etag, mtime);
    if (pre == 304) {
        /* RFC 9110 15.4.5: the validators and Cache-Control, no body. */
        if ((rc = cio_http_response_status(res, 304)) < 0) return rc;
        return cio_http_response_end(res);
    }
    if (pre == 412) return cio_http_response_error(res, 412, NULL);
    if ((rc = cio_http_response_set_header(res, "Accept-Ranges", "bytes")) < 0) return rc;
    struct cio__http_range r[MAX_RANGES];
    size_t n = 0;
    int kind = CIO__HTTP_RANGE_IGNORE;
    const char *range = cio_http_request_header(req, "Range");
    if (range && cio__http_if_range(cio_http_request_header(req, "If-Range"), etag, mtime))
        kind = cio__http_parse_range(range, size, r, MAX_RANGES, &n);
    if (kind == CIO__HTTP_RANGE_NONE) {
        snprintf(buf, sizeof buf, "bytes */%llu", (unsigned long long)size);
        if ((rc = cio_http_response_set_header(res, "Content-Range", buf)) < 0) return rc;
        return cio_http_response_error(res, 416, NULL);
    }
    if (kind == CIO__HTTP_RANGE_OK && n > 1) return send_multipart(req, res, fd, size, type, r, n);
    uint64_t first = 0, len = size;
    if (kind == CIO__HTTP_RANGE_OK) {
        first = r[0].first;
        len = r[0].last - r[0].first + 1;
        snprintf(buf, sizeof buf, "bytes %llu-%llu/%llu", (unsigned long long)r[0].first,
                 (unsigned long long)r[0].last, (unsigned long long)size);
        if ((rc = cio_http_response_status(res, 206)) < 0 ||
            (rc = cio_http_response_set_header(res, "Content-Range", buf)) < 0)
            return rc;
    }
    if ((rc = cio_http_response_set_header(res, "Content-Type", type)) < 0 ||
        (rc = cio_http_response_begin(res, (int64_t)len)) < 0)
        return rc;
    /* HEAD: the connection code counts the bytes without sending them. */
    if ((rc = send_body(res, fd, first, len)) < 0) return rc;
    return cio_http_response_end(res);
}

#define OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY)

CIO_API int cio_http_response_file(cio_http_request *req, cio_http_response *res, const char *path)
{
    if (!req || !res || !path || !*path) return -EINVAL;
    if (cio_http_response_is_started(res)) return -EALREADY;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, OPEN_FLAGS | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode))
        rc = -EISDIR;
    else if (!S_ISREG(st.st_mode))
        rc = -EACCES; /* devices, FIFOs, sockets are not files to send */
    else
        rc = serve_fd(req, res, fd, &st, cio_http_mime_type(path), NULL, 0);
    close(fd);
    return rc;
}

/* ---- Directories ----------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An HTML listing of the directory fd (consumed) at the request's path. */
static int send_listing(cio_http_request *req, cio_http_response *res, int fd, bool follow,
                        bool at_root)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return cio_http_response_error(res, 500, NULL);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        bool dir = S_ISDIR(st.st_mode);
        if (S_ISLNK(st.st_mode)) {
            /* Unfollowed symlinks would 404: not listed. */
            if (!follow || fstatat(dirfd(d), e->d_name, &st, 0) != 0) continue;
            dir = S_ISDIR(st.st_mode);
        }
        if (!dir && !S_ISREG(st.st_mode)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            names = nn;
        }
        size_t len = strlen(e->d_name);
        char *s = malloc(len + 2);
        if (!s) {
            rc = -ENOMEM;
            break;
        }
        memcpy(s, e->d_name, len);
        s[len] = dir ? '/' : '\0';
        s[len + 1] = '\0';
        names[n++] = s;
    }
    closedir(d);
    struct cio__http_buf b = {0};
    if (rc == 0) {
        if (n) qsort(names, n, sizeof *names, name_cmp);
        const char *path = cio_http_request_path(req);
        bool ok =
            cio__http_buf_add(
                &b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ", 66) &&
            cio__http_html_escape(&b, path ? path : "/") &&
            cio__http_buf_add(&b, "</title></head>\n<body><h1>Index of ", 35) &&
            cio__http_html_escape(&b, path ? path : "/") &&
            cio__http_buf_add(&b, "</h1>\n<ul>\n", 11);
        if (ok && !at_root) ok = cio__http_buf_add(&b, "<li><a href=\"../\">../</a></li>\n", 31);
        for (size_t i = 0; ok && i < n; i++) {
            size_t len = strlen(names[i]);
            bool dir = names[i][len - 1] == '/';
            if (dir) names[i][len - 1] = '\0';
            ok = cio__http_buf_add(&b, "<li><a href=\"", 13) &&
                 cio__http_url_escape(&b, names[i]) &&
                 cio__http_buf_add(&b, dir ? "/\">" : "\">", dir ? 3 : 2) &&
                 cio__http_html_escape(&b, names[i]) && (!dir || cio__http_buf_add(&b, "/", 1)) &&
                 cio__http_buf_add(&b, "</a></li>\n", 10);
        }
        if (ok) ok = cio__http_buf_add(&b, "</ul>\n</body></html>\n", 21);
        if (!ok) rc = -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == 0) rc = cio_http_response_send(res, 200, "text/html; charset=utf-8", b.p, b.len);
    free(b.p);
    return rc;
}

/* A path that names a directory without its trailing '/': 301 to the '/'
 * form, as nginx does, so that relative links in its index resolve.
 * Leading slashes are folded into one: "//host/dir" must not become
 * "Location: //host/dir/", which a browser reads as another host (the open
 * redirect of Python's http.server, CVE-2021-28861). */
static int redirect_slash(cio_http_request *req, cio_http_response *res)
{
    const char *raw = cio__http_raw_path(req);
    while (raw[0] == '/' && raw[1] == '/')
        raw++;
    const char *q = cio_http_request_query_string(req);
    size_t rl = strlen(raw), ql = q ? strlen(q) : 0;
    char *loc = cio__http_alloc(req, rl + ql + 3);
    if (!loc) return -ENOMEM;
    memcpy(loc, raw, rl);
    loc[rl] = '/';
    size_t o = rl + 1;
    if (ql) {
        loc[o++] = '?';
        memcpy(loc + o, q, ql);
        o += ql;
    }
    loc[o] = '\0';
    return cio_http_response_redirect(res, 301, loc);
}

/* Opens rel[0..n) with ".gz" appended when the client accepts gzip and a
 * regular sibling exists. Returns its descriptor (st filled) or -1. */
static int open_gz(const struct static_dir *sd, char *rel, size_t n, size_t cap, struct stat *st)
{
    if (n + 4 > cap) return -1;
    memcpy(rel + n, ".gz", 4);
    int fd = cio__http_static_open(sd->rootfd, rel, OPEN_FLAGS, sd->follow);
    rel[n] = '\0';
    if (fd < 0) return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int not_found(cio_http_response *res, int err)
{
    return cio_http_response_error(res, err == -EACCES ? 403 : 404, NULL);
}

static int serve_static(cio_http_request *req, cio_http_response *res, void *arg)
{
    const struct static_dir *sd = arg;
    bool head = is_head(req);
    const char *m = cio_http_request_method(req);
    if (!head && strcmp(m, "GET") != 0) {
        int rc = cio_http_response_set_header(res, "Allow", "GET, HEAD");
        return rc < 0 ? rc : cio_http_response_error(res, 405, NULL);
    }
    const char *raw = cio__http_raw_path(req);
    const char *rest = cio_http_request_param(req, "path");
    if (!rest) {
        /* The bare prefix ("/static"): to "/static/". */
        size_t rl = strlen(raw);
        if (rl == 0 || raw[rl - 1] != '/') return redirect_slash(req, res);
        rest = "";
    }
    if (cio__http_static_raw_refused(raw)) return not_found(res, -ENOENT);
    char rel[PATH_MAX];
    ssize_t n = cio__http_static_clean_path(
        rest, rel, sizeof rel - 4 - (sd->index ? strlen(sd->index) + 1 : 0));
    if (n < 0) return not_found(res, (int)n);
    bool want_dir = n == 0 || rel[n - 1] == '/';
    bool gz = sd->precompressed &&
              cio__http_accepts_gzip(cio_http_request_header(req, "Accept-Encoding"));
    struct stat st;
    int fd = -1, rc;
    if (gz && !want_dir && (fd = open_gz(sd, rel, (size_t)n, sizeof rel, &st)) >= 0) {
        rc = serve_fd(req, res, fd, &st, cio_http_mime_type(rel), "gzip", sd->max_age);
        close(fd);
        return rc;
    }
    fd = cio__http_static_open(sd->rootfd, rel, OPEN_FLAGS, sd->follow);
    if (fd < 0) return not_found(res, fd);
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        close(fd);
        return not_found(res, rc);
    }
    if (S_ISDIR(st.st_mode)) {
        if (!want_dir) {
            close(fd);
            return redirect_slash(req, res);
        }
        if (sd->index) {
            /* rel ends with '/' (or is ""): the index below it. */
            size_t il = strlen(sd->index);
            memcpy(rel + n, sd->index, il + 1);
            size_t m2 = (size_t)n + il;
            int ifd = -1;
            struct stat ist;
            if (gz && (ifd = open_gz(sd, rel, m2, sizeof rel, &ist)) >= 0) {
                close(fd);
                rc = serve_fd(req, res, ifd, &ist, cio_http_mime_type(rel), "gzip", sd->max_age);
                close(ifd);
                return rc;
            }
            ifd = cio__http_static_open(sd->rootfd, rel, OPEN_FLAGS, sd->follow);
            if (ifd >= 0 && fstat(ifd, &ist) == 0 && S_ISREG(ist.st_mode)) {
                close(fd);
                rc = serve_fd(req, res, ifd, &ist, cio_http_mime_type(rel), NULL, sd->max_age);
                close(ifd);
                return rc;
            }
            if (ifd >= 0) close(ifd);
            rel[n] = '\0';
        }
        if (sd->listing) return send_listing(req, res, fd, sd->follow, n == 0);
        close(fd);
        return cio_http_response_error(res, 403, NULL);
    }
    if (!S_ISREG(st.st_mode) || want_dir) {
        close(fd);
        return not_found(res, -ENOENT);
    }
    rc = serve_fd(req, res, fd, &st, cio_http_mime_type(rel), NULL, sd->max_age);
    close(fd);
    return rc;
}

/* A client that leaves during a download is no failure of the server:
 * the connection is closed (the response cannot be finished) without a
 * report per broken download. Other errors (reading the file, memory)
 * are returned and reported. */
static int static_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    int rc = serve_static(req, res, arg);
    if (rc < 0 && cio_http_response_is_started(res) &&
        (rc == -EPIPE || rc == -ECONNRESET || rc == -ECONNABORTED || rc == -ENOTCONN ||
         rc == -ESHUTDOWN))
        return 0;
    return rc;
}

/* ---- Registration ---------------------------------------------------------------- */

static void static_dir_free(void *arg)
{
    struct static_dir *sd = arg;
    if (!sd) return;
    if (sd->rootfd >= 0) close(sd->rootfd);
    free(sd->index);
    free(sd);
}

static bool valid_prefix(const char *p)
{
    if (!p || p[0] != '/') return false;
    if (p[1] == '\0') return true;
    size_t n = strlen(p);
    if (p[n - 1] == '/' || strchr(p, '{') || strchr(p, '}') || strstr(p, "//")) return false;
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '?' || *s == '#' || *s == '\\')
            return false;
    return true;
}

CIO_API int cio_http_app_static(cio_http_app *app, const char *prefix, const char *dir,
                                const cio_http_static_options *opts)
{
    if (!app || !dir || !valid_prefix(prefix)) return -EINVAL;
    cio_http_static_options o = CIO_HTTP_STATIC_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc < 0) return rc;
    if (o.max_age != o.max_age) return -EINVAL; /* NaN */
    const char *index = o.index ? o.index : "index.html";
    if (*index && (strchr(index, '/') || strchr(index, '\\') || strcmp(index, ".") == 0 ||
                   strcmp(index, "..") == 0 || strlen(index) > NAME_MAX))
        return -EINVAL;
    struct static_dir *sd = calloc(1, sizeof *sd);
    if (!sd) return -ENOMEM;
    sd->rootfd = -1;
    if (*index && !(sd->index = strdup(index))) {
        free(sd);
        return -ENOMEM;
    }
    sd->listing = o.listing;
    sd->precompressed = !o.no_precompressed;
    sd->follow = o.follow_symlinks;
    sd->max_age = o.max_age;
    sd->rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sd->rootfd < 0) {
        rc = -errno;
        static_dir_free(sd);
        return rc;
    }
    size_t pl = strcmp(prefix, "/") == 0 ? 0 : strlen(prefix);
    char pattern[PATH_MAX];
    if (pl + sizeof "/{path*}" > sizeof pattern) {
        static_dir_free(sd);
        return -EINVAL;
    }
    memcpy(pattern, prefix, pl);
    memcpy(pattern + pl, "/{path*}", sizeof "/{path*}");
    /* sd lives as long as the app; registered first, so that a route
     * that fails leaves nothing to undo but the registration (sd is then
     * freed with the app, unused). */
    rc = cio__http_app_on_free(app, static_dir_free, sd);
    if (rc < 0) {
        static_dir_free(sd);
        return rc;
    }
    rc = cio_http_app_route(app, NULL, pattern, static_handler, sd);
    if (rc < 0) return rc;
    if (pl) {
        /* "/prefix" alone: redirected to "/prefix/" (the param is NULL). */
        pattern[pl] = '\0';
        rc = cio_http_app_route(app, NULL, pattern, static_handler, sd);
    }
    return rc;
}
