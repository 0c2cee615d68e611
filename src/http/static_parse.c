/* Static files, the parts that need no server (static.h): request path
 * checks, opening below a root (openat2, or a walk on older kernels),
 * entity tags and the preconditions of RFC 9110 13.2.2, Range and
 * If-Range, Accept-Encoding for precompressed files, the listing's text.
 * static.c serves with them; tests/http/test_static.c checks them alone. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "static.h"

/* ---- Path checks ----------------------------------------------------------- */

ssize_t cio__http_static_clean_path(const char *path, char *out, size_t cap)
{
    if (!path || !out || cap == 0) return -EINVAL;
    size_t o = 0;
    const char *p = path;
    bool trailing = false;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != '/') {
            unsigned char c = (unsigned char)*p;
            if (c < 0x20 || c == 0x7f || c == '\\') return -ENOENT;
            p++;
        }
        size_t n = (size_t)(p - s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return -ENOENT;
        if (o + n + 2 > cap) return -ENAMETOOLONG;
        if (o) out[o++] = '/';
        memcpy(out + o, s, n);
        o += n;
        trailing = *p == '/';
    }
    if (trailing) {
        if (o + 2 > cap) return -ENAMETOOLONG;
        out[o++] = '/';
    }
    out[o] = '\0';
    return (ssize_t)o;
}

bool cio__http_static_raw_refused(const char *raw)
{
    if (!raw) return true;
    for (const char *p = raw; *p; p++) {
        if (*p == '\\') return true;
        if (*p == '%' && p[1] && p[2]) {
            if (p[1] == '0' && p[2] == '0') return true;
            if (p[1] == '5' && (p[2] == 'c' || p[2] == 'C')) return true;
        }
    }
    return false;
}

/* ---- Opening below the root --------------------------------------------------- */

static atomic_bool no_openat2;

bool cio__http_static_walking(void)
{
    return atomic_load_explicit(&no_openat2, memory_order_relaxed);
}

/* One level of the walk: a directory descriptor (the root is not ours). */
#define WALK_DEPTH 256
#define WALK_LINKS 40

int cio__http_static_open_walk(int rootfd, const char *rel, int flags, bool follow)
{
    if (!rel) return -EINVAL;
    /* path: what is left to walk, rebuilt when a symlink is expanded. */
    char path[PATH_MAX], link[PATH_MAX];
    size_t plen = strlen(rel);
    if (plen >= sizeof path) return -ENAMETOOLONG;
    memcpy(path, rel, plen + 1);
    int stack[WALK_DEPTH];
    int depth = 0, links = 0, rc;
    stack[0] = rootfd;
    size_t pos = 0;
    for (;;) {
        while (path[pos] == '/')
            pos++;
        if (!path[pos]) {
            /* rel named a directory (empty, or a trailing '/'): open it. */
            rc = openat(stack[depth], ".", flags | O_CLOEXEC);
            rc = rc < 0 ? -errno : rc;
            goto out;
        }
        size_t s = pos;
        while (path[pos] && path[pos] != '/')
            pos++;
        size_t n = pos - s;
        char name[NAME_MAX + 1];
        if (n > NAME_MAX) {
            rc = -ENAMETOOLONG;
            goto out;
        }
        memcpy(name, path + s, n);
        name[n] = '\0';
        bool last = true;
        for (size_t k = pos; path[k]; k++)
            if (path[k] != '/') {
                last = false;
                break;
            }
        bool dir_wanted = !last || path[pos] == '/';
        if (strcmp(name, ".") == 0) continue;
        if (strcmp(name, "..") == 0) {
            if (depth == 0) {
                rc = -EXDEV; /* above the root */
                goto out;
            }
            close(stack[depth--]);
            continue;
        }
        int fd;
        if (last && !dir_wanted)
            fd = openat(stack[depth], name, flags | O_NOFOLLOW | O_CLOEXEC);
        else
            fd = openat(stack[depth], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        bool is_link = false;
        if (fd < 0) {
            if (errno != ELOOP) {
                rc = -errno;
                goto out;
            }
            is_link = true; /* O_NOFOLLOW on a symlink */
        } else {
            struct stat st;
            if (fstat(fd, &st) != 0) {
                rc = -errno;
                close(fd);
                goto out;
            }
            if (S_ISLNK(st.st_mode)) {
                is_link = true;
                close(fd);
            } else if (last && !dir_wanted) {
                rc = fd;
                goto out;
            } else if (!S_ISDIR(st.st_mode)) {
                close(fd);
                rc = -ENOTDIR;
                goto out;
            } else if (last) {
                /* "dir/": the directory itself, with the caller's flags. */
                rc = openat(fd, ".", flags | O_CLOEXEC);
                rc = rc < 0 ? -errno : rc;
                close(fd);
                goto out;
            } else {
                if (depth + 1 >= WALK_DEPTH) {
                    close(fd);
                    rc = -ENAMETOOLONG;
                    goto out;
                }
                stack[++depth] = fd;
                continue;
            }
        }
        if (is_link) {
            /* As RESOLVE_NO_SYMLINKS / RESOLVE_BENEATH: refused, or
             * expanded in place when relative (its ".." then climbs the
             * stack, never above the root). */
            if (!follow) {
                rc = -ELOOP;
                goto out;
            }
            if (++links > WALK_LINKS) {
                rc = -ELOOP;
                goto out;
            }
            ssize_t ln = readlinkat(stack[depth], name, link, sizeof link);
            if (ln < 0) {
                rc = -errno;
                goto out;
            }
            if ((size_t)ln >= sizeof link) {
                rc = -ENAMETOOLONG;
                goto out;
            }
            if (ln == 0 || link[0] == '/') {
                rc = -EXDEV; /* absolute: RESOLVE_BENEATH refuses these */
                goto out;
            }
            size_t rest = strlen(path + pos);
            if ((size_t)ln + rest + 1 > sizeof path) {
                rc = -ENAMETOOLONG;
                goto out;
            }
            memmove(path + ln, path + pos, rest + 1);
            memcpy(path, link, (size_t)ln);
            pos = 0;
        }
    }
out:
    while (depth > 0)
        close(stack[depth--]);
    return rc;
}

int cio__http_static_open(int rootfd, const char *rel, int flags, bool follow)
{
    if (!rel) return -EINVAL;
    if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (follow ? 0 : RESOLVE_NO_SYMLINKS),
        };
        const char *p = *rel ? rel : ".";
        for (int tries = 0; tries < 4; tries++) {
            long fd = syscall(SYS_openat2, rootfd, p, &how, sizeof how);
            if (fd >= 0) return (int)fd;
            /* EAGAIN: a rename raced with the resolution; try again. */
            if (errno == EAGAIN) continue;
            if (errno != ENOSYS) return -errno;
            atomic_store_explicit(&no_openat2, true, memory_order_relaxed);
            break;
        }
        if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) return -EAGAIN;
    }
    return cio__http_static_open_walk(rootfd, rel, flags, follow);
}

/* ---- Validators and preconditions -------------------------------------------- */

int cio__http_etag(char *buf, const struct stat *st)
{
    uint64_t ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
    return snprintf(buf, CIO__HTTP_ETAG_MAX, "\"%llx-%llx-%llx\"", (unsigned long long)st->st_ino,
                    (unsigned long long)st->st_size, (unsigned long long)ns);
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

bool cio__http_etag_match(const char *list, const char *etag, bool strong)
{
    if (!list || !etag) return false;
    const char *p = skip_ows(list);
    if (*p == '*' && *skip_ows(p + 1) == '\0') return true;
    size_t elen = strlen(etag);
    while (*p) {
        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        bool weak = false;
        if (p[0] == 'W' && p[1] == '/') {
            weak = true;
            p += 2;
        }
        if (*p != '"') return false; /* not an entity-tag list */
        const char *e = strchr(p + 1, '"');
        if (!e) return false;
        size_t n = (size_t)(e + 1 - p);
        if (!(strong && weak) && n == elen && memcmp(p, etag, n) == 0) return true;
        p = skip_ows(e + 1);
        if (*p && *p != ',') return false;
    }
    return false;
}

int cio__http_preconditions(const char *if_match, const char *if_unmodified_since,
                            const char *if_none_match, const char *if_modified_since,
                            const char *etag, int64_t mtime)
{
    int64_t t;
    if (if_match) {
        if (!cio__http_etag_match(if_match, etag, true)) return 412;
    } else if (if_unmodified_since && cio__http_parse_date(if_unmodified_since, &t) == 0) {
        if (mtime > t) return 412;
    }
    if (if_none_match) {
        if (cio__http_etag_match(if_none_match, etag, false)) return 304;
    } else if (if_modified_since && cio__http_parse_date(if_modified_since, &t) == 0) {
        if (mtime <= t) return 304;
    }
    return 0;
}

bool cio__http_if_range(const char *value, const char *etag, int64_t mtime)
{
    if (!value) return true;
    const char *p = skip_ows(value);
    if (*p == '"' || (p[0] == 'W' && p[1] == '/')) {
        /* Strong comparison: a weak tag never matches. */
        size_t n = strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        return p[0] == '"' && n == strlen(etag) && memcmp(p, etag, n) == 0;
    }
    int64_t t;
    return cio__http_parse_date(p, &t) == 0 && t == mtime;
}

/* ---- Range --------------------------------------------------------------------- */

static bool parse_u64(const char **pp, uint64_t *out)
{
    const char *p = *pp;
    if (*p < '0' || *p > '9') return false;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            v = UINT64_MAX; /* saturate: "past the end" for any real file */
            while (*p >= '0' && *p <= '9')
                p++;
            break;
        }
        v = v * 10 + d;
        p++;
    }
    *pp = p;
    *out = v;
    return true;
}

int cio__http_parse_range(const char *value, uint64_t size, struct cio__http_range *out, size_t max,
                          size_t *n)
{
    *n = 0;
    if (!value) return CIO__HTTP_RANGE_IGNORE;
    const char *p = skip_ows(value);
    if (strncasecmp(p, "bytes=", 6) != 0) return CIO__HTTP_RANGE_IGNORE;
    p += 6;
    size_t count = 0, total_specs = 0;
    uint64_t sum = 0;
    bool too_many = false, empty_suffix = false;
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') { /* empty list elements are allowed (RFC 9110 5.6.1) */
            p++;
            continue;
        }
        if (!*p) break;
        uint64_t first = 0, last = 0;
        bool suffix = false, open_end = false;
        if (*p == '-') {
            p++;
            if (!parse_u64(&p, &last)) return CIO__HTTP_RANGE_IGNORE;
            suffix = true;
        } else {
            if (!parse_u64(&p, &first) || *p != '-') return CIO__HTTP_RANGE_IGNORE;
            p++;
            if (*p >= '0' && *p <= '9') {
                if (!parse_u64(&p, &last) || last < first) return CIO__HTTP_RANGE_IGNORE;
            } else {
                open_end = true;
            }
        }
        p = skip_ows(p);
        if (*p && *p != ',') return CIO__HTTP_RANGE_IGNORE;
        total_specs++;
        /* Satisfiable? (RFC 9110 14.1.1: first < size, or a suffix > 0.) */
        if (suffix) {
            /* RFC 9110 14.1.1: on an empty representation a suffix range
             * with a non-zero length is satisfiable, but no Content-Range
             * can say so: the Range is ignored (200), never a 416. */
            if (last != 0 && size == 0) empty_suffix = true;
            if (last == 0 || size == 0) continue;
            first = last >= size ? 0 : size - last;
            last = size - 1;
        } else {
            if (first >= size) continue;
            if (open_end || last >= size) last = size - 1;
        }
        uint64_t len = last - first + 1;
        if (count == max) {
            too_many = true;
            continue;
        }
        out[count].first = first;
        out[count].last = last;
        count++;
        sum += len;
    }
    if (total_specs == 0) return CIO__HTTP_RANGE_IGNORE;
    if (too_many || empty_suffix) return CIO__HTTP_RANGE_WHOLE;
    if (count == 0) return CIO__HTTP_RANGE_NONE;
    /* Overlapping or many small ranges that add up to more than the file:
     * answering them costs more than the file (CVE-2011-3192); RFC 9110
     * 14.2 lets a server ignore Range, which nginx does here too. */
    if (count > 1 && sum > size) return CIO__HTTP_RANGE_WHOLE;
    *n = count;
    return CIO__HTTP_RANGE_OK;
}

/* ---- Accept-Encoding ---------------------------------------------------------- */

/* The q-value of an element's parameters ("; q=0.5"), 1000ths. */
static int qvalue(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            p += 2;
            if (p < end && *p == '1') return 1000;
            if (p >= end || *p != '0') return 0;
            p++;
            int q = 0, scale = 100;
            if (p < end && *p == '.')
                for (p++; p < end && *p >= '0' && *p <= '9' && scale; p++, scale /= 10)
                    q += (*p - '0') * scale;
            return q;
        }
        while (p < end && *p != ';')
            p++;
    }
    return 1000;
}

bool cio__http_accepts_gzip(const char *ae)
{
    if (!ae) return false;
    int gzip = -1, star = -1;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t n = (size_t)(p - s);
        const char *params = p;
        while (*p && *p != ',')
            p++;
        int q = qvalue(params, p);
        if (cio__http_ieq(s, n, "gzip", 4) || cio__http_ieq(s, n, "x-gzip", 6))
            gzip = q;
        else if (n == 1 && *s == '*')
            star = q;
    }
    if (gzip >= 0) return gzip > 0;
    return star > 0;
}

/* ---- Text for the listing ------------------------------------------------------ */

bool cio__http_buf_add(struct cio__http_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

bool cio__http_html_escape(struct cio__http_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *r;
        switch (*s) {
        case '&':
            r = "&amp;";
            break;
        case '<':
            r = "&lt;";
            break;
        case '>':
            r = "&gt;";
            break;
        case '"':
            r = "&quot;";
            break;
        case '\'':
            r = "&#39;";
            break;
        default:
            if (!cio__http_buf_add(b, s, 1)) return false;
            continue;
        }
        if (!cio__http_buf_add(b, r, strlen(r))) return false;
    }
    return true;
}

bool cio__http_url_escape(struct cio__http_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            if (!cio__http_buf_add(b, (const char *)&c, 1)) return false;
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (!cio__http_buf_add(b, e, 3)) return false;
        }
    }
    return true;
}
