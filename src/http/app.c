/* Applications: the router (a tree of path segments), sub-applications
 * mounted under a prefix, and the middleware chain around the handler.
 *
 * A pattern is cut at '/' into segments and stored as a path in a tree
 * whose nodes have literal children (a sorted array, found by binary
 * search), at most one parameter child ("{name}": any one non-empty
 * segment) and at most one wildcard child ("{name*}": the rest of the
 * path). A lookup walks the request's raw path down the tree, trying at
 * each node the literal child, then the parameter, then a mounted
 * sub-application, then the wildcard, backing up when a branch ends
 * without a route for the method. Every node sits at one depth, so it is
 * visited at most once per lookup: the cost grows with the path's length
 * (and the log of a node's literal fan-out), never with the number of
 * routes.
 *
 * Matching works on the raw path so that "%2F" inside a segment stays in
 * that segment; literal segments compare with the segment's percent-decoded
 * bytes, and bound parameters are percent-decoded once the route is known.
 *
 * Dispatch only reads the app, so one app may serve several loops and
 * threads; changes are refused (-EBUSY) while a server holds it. A request
 * that matches a route without parameters through an app without
 * middleware costs a lookup and the handler's call, nothing more: no
 * request memory, no slot. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "internal.h"

struct cio__http_endpoint {
    char *method; /* NULL: any method */
    size_t mlen;
    cio_http_handler handler;
    void *arg;
    size_t nparams;
    char **names; /* the pattern's parameter names, in order */
};

struct node;

struct literal {
    char *seg;
    size_t len;
    struct node *child;
};

struct node {
    struct literal *lits; /* sorted by memcmp of seg (shorter first on a tie) */
    size_t nlits, caplits;
    struct node *param;      /* "{name}" */
    struct node *wild;       /* "{name*}": holds endpoints only */
    struct cio__http_endpoint *eps;
    size_t neps;
    cio_http_app *mount;     /* a sub-application takes every path from here */
};

struct mw {
    cio_http_middleware fn;
    void *arg;
    void (*free_arg)(void *);
};

struct cio_http_app {
    struct node root;
    struct mw *own; /* this app's middleware, in order */
    size_t nown;
    /* The chain a request answered by this app runs: its ancestors'
     * middleware, then its own (rebuilt when any of them changes, so that
     * dispatch only reads it). */
    struct mw *chain;
    size_t nchain;
    cio_http_app *parent;
    cio_http_app **subs;
    size_t nsubs;
    atomic_uint holds;
    /* cio__http_app_on_free: what other parts hang on the app (static.c:
     * a mount's root descriptor and options), freed with it. */
    struct on_free {
        void (*fn)(void *);
        void *arg;
    } *frees;
    size_t nfrees;
};

/* ---- Building ------------------------------------------------------------- */

int cio_http_app_new(cio_http_app **out)
{
    if (!out) return -EINVAL;
    cio_http_app *app = calloc(1, sizeof *app);
    if (!app) return -ENOMEM;
    atomic_init(&app->holds, 0);
    *out = app;
    return 0;
}

static void free_endpoint(struct cio__http_endpoint *ep)
{
    free(ep->method);
    for (size_t i = 0; i < ep->nparams; i++) free(ep->names[i]);
    free(ep->names);
}

static void free_app(cio_http_app *app);

static void free_node(struct node *n, bool self)
{
    if (!n) return;
    for (size_t i = 0; i < n->nlits; i++) {
        free(n->lits[i].seg);
        free_node(n->lits[i].child, true);
    }
    free(n->lits);
    free_node(n->param, true);
    free_node(n->wild, true);
    for (size_t i = 0; i < n->neps; i++) free_endpoint(&n->eps[i]);
    free(n->eps);
    if (n->mount) free_app(n->mount);
    if (self) free(n);
}

static void free_app(cio_http_app *app)
{
    free_node(&app->root, false);
    for (size_t i = 0; i < app->nown; i++)
        if (app->own[i].free_arg) app->own[i].free_arg(app->own[i].arg);
    free(app->own);
    free(app->chain);
    free(app->subs);
    for (size_t i = app->nfrees; i-- > 0;) app->frees[i].fn(app->frees[i].arg);
    free(app->frees);
    free(app);
}

int cio__http_app_on_free(cio_http_app *app, void (*fn)(void *), void *arg)
{
    if (!app || !fn) return -EINVAL;
    struct on_free *f = realloc(app->frees, (app->nfrees + 1) * sizeof *f);
    if (!f) return -ENOMEM;
    app->frees = f;
    f[app->nfrees++] = (struct on_free){fn, arg};
    return 0;
}

/* Whether app or an application it is mounted in is being served. */
static bool is_busy(const cio_http_app *app)
{
    for (; app; app = app->parent)
        if (atomic_load_explicit(&app->holds, memory_order_acquire) > 0) return true;
    return false;
}

/* Whether app or an application mounted under it is being served: a
 * mounted app may be served alone, and its chain (rebuilt by its parents'
 * changes) and memory are then read by the serving loops. */
static bool below_busy(const cio_http_app *app)
{
    if (atomic_load_explicit(&app->holds, memory_order_acquire) > 0) return true;
    for (size_t i = 0; i < app->nsubs; i++)
        if (below_busy(app->subs[i])) return true;
    return false;
}

int cio_http_app_free(cio_http_app *app)
{
    if (!app) return 0;
    /* A mounted app belongs to its parent; a served one is still read. */
    if (app->parent || is_busy(app) || below_busy(app)) return -EBUSY;
    free_app(app);
    return 0;
}

void cio__http_app_hold(cio_http_app *app)
{
    if (app) atomic_fetch_add_explicit(&app->holds, 1, memory_order_acq_rel);
}

void cio__http_app_release(cio_http_app *app)
{
    if (app) atomic_fetch_sub_explicit(&app->holds, 1, memory_order_acq_rel);
}

/* memcmp order, shorter first on a common prefix. Segments are short: a
 * byte loop beats the call to memcmp below 16 bytes. */
static inline int lit_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    if (n >= 16) {
        int c = memcmp(a, b, n);
        if (c) return c;
    } else {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i]) return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    }
    return an < bn ? -1 : an > bn;
}

/* The index of seg in n's literals, or where it would go (*found false). */
static size_t lit_search(const struct node *n, const char *seg, size_t len, bool *found)
{
    size_t lo = 0, hi = n->nlits;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = lit_cmp(n->lits[mid].seg, n->lits[mid].len, seg, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct node *literal_child(struct node *n, const char *seg, size_t len)
{
    bool found;
    size_t i = lit_search(n, seg, len, &found);
    if (found) return n->lits[i].child;
    if (n->nlits == n->caplits) {
        size_t cap = n->caplits ? n->caplits * 2 : 2;
        struct literal *l = realloc(n->lits, cap * sizeof *l);
        if (!l) return NULL;
        n->lits = l;
        n->caplits = cap;
    }
    struct node *c = calloc(1, sizeof *c);
    char *s = malloc(len + 1);
    if (!c || !s) {
        free(c);
        free(s);
        return NULL;
    }
    memcpy(s, seg, len);
    s[len] = '\0';
    memmove(&n->lits[i + 1], &n->lits[i], (n->nlits - i) * sizeof *n->lits);
    n->lits[i] = (struct literal){.seg = s, .len = len, .child = c};
    n->nlits++;
    return c;
}

static struct node *special_child(struct node **slot)
{
    if (!*slot) *slot = calloc(1, sizeof **slot);
    return *slot;
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

struct seg {
    const char *s;
    size_t len;
    int kind; /* 0 literal, 1 parameter, 2 wildcard */
};

/* Cuts pattern into segments (parameter names without their braces and
 * star). Returns the count or -EINVAL. */
static int parse_pattern(const char *pattern, struct seg *segs, size_t max, size_t *nparams)
{
    if (!pattern || pattern[0] != '/') return -EINVAL;
    size_t n = 0, np = 0;
    const char *p = pattern + 1;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n == max) return -EINVAL;
        struct seg *s = &segs[n++];
        if (len > 0 && p[0] == '{') {
            if (len < 3 || p[len - 1] != '}') return -EINVAL;
            s->s = p + 1;
            s->len = len - 2;
            s->kind = 1;
            if (s->s[s->len - 1] == '*') {
                if (e) return -EINVAL; /* the wildcard must be last */
                s->kind = 2;
                s->len--;
                if (s->len == 0) return -EINVAL;
            }
            for (size_t i = 0; i < s->len; i++)
                if (!name_char((unsigned char)s->s[i])) return -EINVAL;
            for (size_t i = 0; i + 1 < n; i++)
                if (segs[i].kind && segs[i].len == s->len && !memcmp(segs[i].s, s->s, s->len))
                    return -EINVAL; /* the same name twice */
            if (++np > CIO__HTTP_MAX_PARAMS) return -EINVAL;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len)) return -EINVAL;
            s->s = p;
            s->len = len;
            s->kind = 0;
        }
        if (!e) break;
        p = e + 1;
    }
    *nparams = np;
    return (int)n;
}

static int add_route(cio_http_app *app, const char *method, const char *pattern,
                     cio_http_handler handler, void *arg)
{
    if (!app || !pattern || !handler) return -EINVAL;
    if (method && !cio__http_is_token(method, strlen(method))) return -EINVAL;
    size_t plen = strlen(pattern);
    size_t maxsegs = plen + 1;
    struct seg stack_segs[64];
    struct seg *segs = maxsegs <= 64 ? stack_segs : malloc(maxsegs * sizeof *segs);
    if (!segs) return -ENOMEM;
    size_t np = 0;
    int nsegs = parse_pattern(pattern, segs, maxsegs, &np);
    int rc = 0;
    if (nsegs < 0) {
        rc = nsegs;
        goto out;
    }
    if (is_busy(app)) {
        rc = -EBUSY;
        goto out;
    }
    struct node *n = &app->root;
    for (int i = 0; i < nsegs && n; i++) {
        if (segs[i].kind == 0)
            n = literal_child(n, segs[i].s, segs[i].len);
        else
            n = special_child(segs[i].kind == 1 ? &n->param : &n->wild);
    }
    if (!n) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n->neps; i++) {
        const char *m = n->eps[i].method;
        if ((!m && !method) || (m && method && !strcmp(m, method))) {
            rc = -EEXIST;
            goto out;
        }
    }
    struct cio__http_endpoint ep = {.handler = handler, .arg = arg, .nparams = np,
                                    .mlen = method ? strlen(method) : 0};
    ep.names = np ? calloc(np, sizeof *ep.names) : NULL;
    ep.method = method ? strdup(method) : NULL;
    bool ok = (!np || ep.names) && (!method || ep.method);
    for (size_t i = 0, k = 0; ok && i < (size_t)nsegs; i++) {
        if (!segs[i].kind) continue;
        ep.names[k] = strndup(segs[i].s, segs[i].len);
        if (!ep.names[k++]) ok = false;
    }
    struct cio__http_endpoint *eps = ok ? realloc(n->eps, (n->neps + 1) * sizeof *eps) : NULL;
    if (!eps) {
        free_endpoint(&ep);
        rc = -ENOMEM;
        goto out;
    }
    n->eps = eps;
    n->eps[n->neps++] = ep;
out:
    if (segs != stack_segs) free(segs);
    return rc;
}

int cio_http_app_route(cio_http_app *app, const char *method, const char *pattern,
                       cio_http_handler handler, void *arg)
{
    return add_route(app, method, pattern, handler, arg);
}

/* Rebuilds app's chain (its parent's, then its own) and its subs'. */
static int rebuild_chain(cio_http_app *app)
{
    size_t base = app->parent ? app->parent->nchain : 0;
    size_t n = base + app->nown;
    struct mw *chain = NULL;
    if (n) {
        chain = malloc(n * sizeof *chain);
        if (!chain) return -ENOMEM;
        if (base) memcpy(chain, app->parent->chain, base * sizeof *chain);
        if (app->nown) memcpy(chain + base, app->own, app->nown * sizeof *chain);
    }
    free(app->chain);
    app->chain = chain;
    app->nchain = n;
    for (size_t i = 0; i < app->nsubs; i++) {
        int rc = rebuild_chain(app->subs[i]);
        if (rc) return rc;
    }
    return 0;
}

int cio__http_app_use_owned(cio_http_app *app, cio_http_middleware mw, void *arg,
                            void (*free_arg)(void *))
{
    int rc = 0;
    if (!app || !mw)
        rc = -EINVAL;
    else if (is_busy(app) || below_busy(app))
        rc = -EBUSY; /* rebuild_chain rewrites the chains of every app below */
    if (rc) goto fail;
    struct mw *own = realloc(app->own, (app->nown + 1) * sizeof *own);
    if (!own) {
        rc = -ENOMEM;
        goto fail;
    }
    app->own = own;
    own[app->nown++] = (struct mw){.fn = mw, .arg = arg, .free_arg = free_arg};
    rc = rebuild_chain(app);
    if (rc) {
        /* Take it out again. The chains rebuilt so far hold it; rebuilding
         * them without it needs no more memory than they have now, but
         * may still fail: then the arg stays referenced and is not freed
         * (the caller's middleware keeps working as before). */
        app->nown--;
        if (rebuild_chain(app) == 0) goto fail;
        return rc;
    }
    return 0;
fail:
    if (free_arg) free_arg(arg);
    return rc;
}

int cio_http_app_use(cio_http_app *app, cio_http_middleware mw, void *arg)
{
    return cio__http_app_use_owned(app, mw, arg, NULL);
}

int cio_http_app_mount(cio_http_app *app, const char *prefix, cio_http_app *sub)
{
    if (!app || !sub || !prefix || sub == app || sub->parent) return -EINVAL;
    for (const cio_http_app *a = app->parent; a; a = a->parent)
        if (a == sub) return -EINVAL; /* a cycle */
    if (prefix[0] != '/' || prefix[1] == '\0') return -EINVAL;
    size_t plen = strlen(prefix);
    if (prefix[plen - 1] == '/' || strstr(prefix, "//") || strchr(prefix, '{') ||
        strchr(prefix, '}'))
        return -EINVAL;
    if (is_busy(app) || below_busy(sub)) return -EBUSY;
    struct node *n = &app->root;
    for (const char *p = prefix + 1; n;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        n = literal_child(n, p, len);
        if (!e) break;
        p = e + 1;
    }
    if (!n) return -ENOMEM;
    if (n->mount) return -EEXIST;
    cio_http_app **subs = realloc(app->subs, (app->nsubs + 1) * sizeof *subs);
    if (!subs) return -ENOMEM;
    app->subs = subs;
    sub->parent = app;
    int rc = rebuild_chain(sub);
    if (rc) {
        sub->parent = NULL;
        rebuild_chain(sub);
        return rc;
    }
    subs[app->nsubs++] = sub;
    n->mount = sub;
    return 0;
}

static int health_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    if (cio__http_shutting_down(req)) return cio_http_response_text(res, 503, "shutting down");
    return cio_http_response_text(res, 200, "ok");
}

int cio_http_app_health(cio_http_app *app, const char *path)
{
    return add_route(app, "GET", path, health_handler, NULL);
}

/* ---- Lookup --------------------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* memcmp-style comparison of the percent-decoding of raw[0..rn) with
 * lit[0..ln). *bad: raw holds a bad escape (then no literal matches). */
static int pct_cmp(const char *raw, size_t rn, const char *lit, size_t ln, bool *bad)
{
    size_t i = 0, j = 0;
    while (i < rn && j < ln) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%') {
            int h = i + 2 < rn ? hexval((unsigned char)raw[i + 1]) : -1;
            int l = h >= 0 ? hexval((unsigned char)raw[i + 2]) : -1;
            if (l < 0) {
                *bad = true;
                return 0;
            }
            c = (unsigned char)(h << 4 | l);
            i += 3;
        } else {
            i++;
        }
        unsigned char d = (unsigned char)lit[j++];
        if (c != d) return c < d ? -1 : 1;
    }
    if (i < rn) return 1;
    return j < ln ? -1 : 0;
}

static const struct node *find_literal(const struct node *n, const char *seg, size_t len,
                                       bool pct)
{
    if (!n->nlits) return NULL;
    if (!pct) {
        bool found;
        size_t i = lit_search(n, seg, len, &found);
        return found ? n->lits[i].child : NULL;
    }
    size_t lo = 0, hi = n->nlits;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        bool bad = false;
        /* pct_cmp compares seg with the literal: negate for literal vs seg */
        int c = -pct_cmp(seg, len, n->lits[mid].seg, n->lits[mid].len, &bad);
        if (bad) return NULL;
        if (c == 0) return n->lits[mid].child;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct query {
    const char *method;
    size_t mlen;
    bool head;
    struct cio__http_match *m;
};

static const struct cio__http_endpoint *find_endpoint(const struct node *n, const struct query *q)
{
    const struct cio__http_endpoint *any = NULL, *get = NULL;
    for (size_t i = 0; i < n->neps; i++) {
        const struct cio__http_endpoint *ep = &n->eps[i];
        if (!ep->method)
            any = ep;
        else if (ep->mlen == q->mlen && !memcmp(ep->method, q->method, q->mlen))
            return ep;
        else if (q->head && ep->mlen == 3 && !memcmp(ep->method, "GET", 3))
            get = ep;
    }
    return get ? get : any;
}

enum { NONE, FOUND, CLAIMED };

static int search(const struct node *n, const char *p, size_t pos, size_t len, struct query *q)
{
    struct cio__http_match *m = q->m;
    m->visits++;
    int r;
    if (pos == len) {
        const struct cio__http_endpoint *ep = find_endpoint(n, q);
        if (ep) {
            m->ep = ep;
            return FOUND;
        }
    } else {
        size_t s = pos + 1, e = s;
        bool pct = false;
        for (; e < len && p[e] != '/'; e++) pct |= p[e] == '%';
        const struct node *c = find_literal(n, p + s, e - s, pct);
        if (c && (r = search(c, p, e, len, q)) != NONE) return r;
        if (n->param && e > s && m->nparams < CIO__HTTP_MAX_PARAMS) {
            m->raw[m->nparams] = p + s;
            m->raw_len[m->nparams++] = e - s;
            if ((r = search(n->param, p, e, len, q)) != NONE) return r;
            m->nparams--;
        }
    }
    if (n->mount) {
        /* The sub-application claims every path from here: it answers,
         * with its own 404 or 405 when it has no route. */
        const cio_http_app *sub = n->mount;
        m->app = sub;
        m->mount_offset += pos;
        m->path = pos < len ? p + pos : "/";
        m->path_len = pos < len ? len - pos : 1;
        m->nparams = 0;
        return search(&sub->root, m->path, 0, m->path_len, q) == FOUND ? FOUND : CLAIMED;
    }
    if (n->wild && pos < len) {
        const struct cio__http_endpoint *ep = find_endpoint(n->wild, q);
        if (ep && m->nparams < CIO__HTTP_MAX_PARAMS) {
            m->raw[m->nparams] = p + pos + 1;
            m->raw_len[m->nparams++] = len - pos - 1;
            m->ep = ep;
            return FOUND;
        }
    }
    return NONE;
}

void cio__http_app_match(const cio_http_app *app, const char *method, const char *raw_path,
                         struct cio__http_match *m)
{
    m->status = 404;
    m->ep = NULL;
    m->app = app;
    m->path = raw_path;
    m->path_len = strlen(raw_path);
    m->mount_offset = 0;
    m->nparams = 0;
    m->visits = 0;
    if (raw_path[0] != '/') return;
    size_t mlen = strlen(method);
    struct query q = {.method = method, .mlen = mlen,
                      .head = mlen == 4 && !memcmp(method, "HEAD", 4), .m = m};
    if (search(&app->root, raw_path, 0, m->path_len, &q) == FOUND) {
        m->status = 0;
        return;
    }
    m->nparams = 0;
    char allow[8];
    m->status = cio__http_app_allow(m, allow, sizeof allow) ? 405 : 404;
}

cio_http_handler cio__http_endpoint_handler(const struct cio__http_endpoint *ep, void **arg)
{
    *arg = ep->arg;
    return ep->handler;
}

const char *cio__http_endpoint_param(const struct cio__http_endpoint *ep, size_t i)
{
    return i < ep->nparams ? ep->names[i] : NULL;
}

/* ---- 405: every method the path accepts ---------------------------------- */

struct allow {
    const char *methods[64];
    size_t n;
};

static void allow_add(struct allow *a, const char *method)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->methods[i], method)) return;
    if (a->n < sizeof a->methods / sizeof a->methods[0]) a->methods[a->n++] = method;
}

static void allow_node(struct allow *a, const struct node *n)
{
    for (size_t i = 0; i < n->neps; i++) {
        if (!n->eps[i].method) continue; /* cannot happen on a 405 */
        allow_add(a, n->eps[i].method);
        if (!strcmp(n->eps[i].method, "GET")) allow_add(a, "HEAD");
    }
}

/* Every node matching the whole path, whatever the priorities. */
static void collect(const struct node *n, const char *p, size_t pos, size_t len, struct allow *a)
{
    if (pos == len) {
        allow_node(a, n);
    } else {
        size_t s = pos + 1, e = s;
        bool pct = false;
        for (; e < len && p[e] != '/'; e++) pct |= p[e] == '%';
        const struct node *c = find_literal(n, p + s, e - s, pct);
        if (c) collect(c, p, e, len, a);
        if (n->param && e > s) collect(n->param, p, e, len, a);
        if (n->wild) allow_node(a, n->wild);
    }
}

size_t cio__http_app_allow(const struct cio__http_match *m, char *buf, size_t size)
{
    struct allow a = {.n = 0};
    collect(&m->app->root, m->path, 0, m->path_len, &a);
    size_t o = 0;
    for (size_t i = 0; i < a.n; i++) {
        size_t l = strlen(a.methods[i]);
        if (o + l + (i ? 2 : 0) + 1 > size) break;
        if (i) {
            memcpy(buf + o, ", ", 2);
            o += 2;
        }
        memcpy(buf + o, a.methods[i], l);
        o += l;
    }
    if (size) buf[o < size ? o : size - 1] = '\0';
    return a.n ? (o ? o : 1) : 0;
}

/* ---- Dispatch and the middleware chain ------------------------------------ */

struct route_state {
    int status; /* 0: the endpoint's handler; 400, 404, 405 */
    const struct cio__http_endpoint *ep;
    const char *allow;
    const struct mw *chain;
    size_t nchain;
    size_t cur;             /* the middleware running (nchain: the handler) */
    unsigned char *called;  /* per middleware: cio_http_next was called */
    size_t nparams;
    const char **values;
    size_t mount_offset;
};

static int answer(struct route_state *st, cio_http_request *req, cio_http_response *res)
{
    switch (st->status) {
    case 0:
        return st->ep->handler(req, res, st->ep->arg);
    case 405:
        if (st->allow) {
            int rc = cio_http_response_set_header(res, "Allow", st->allow);
            if (rc) return rc;
        }
        return cio_http_response_error(res, 405, NULL);
    case 400:
        return cio_http_response_error(res, 400, "bad percent-encoding in the path");
    default:
        return cio_http_response_error(res, 404, NULL);
    }
}

static int run_from(struct route_state *st, cio_http_request *req, cio_http_response *res,
                    size_t i)
{
    st->cur = i;
    if (i < st->nchain) return st->chain[i].fn(req, res, st->chain[i].arg);
    return answer(st, req, res);
}

int cio_http_next(cio_http_request *req, cio_http_response *res)
{
    if (!req || !res) return -EINVAL;
    struct route_state *st = *cio__http_slot(req, CIO__HTTP_SLOT_ROUTE);
    if (!st || st->cur >= st->nchain) return -EINVAL; /* not from a middleware */
    size_t i = st->cur;
    if (st->called[i]) return -EALREADY;
    st->called[i] = 1;
    int rc = run_from(st, req, res, i + 1);
    st->cur = i;
    return rc;
}

int cio__http_dispatch(cio_http_app *app, cio_http_request *req, cio_http_response *res)
{
    struct cio__http_match m;
    const char *method = cio_http_request_method(req);
    const char *path = cio__http_raw_path(req);
    if (!method || !path) return -EINVAL;
    cio__http_app_match(app, method, path, &m);
    /* The chain of the app that answers, less the middleware of the apps
     * above the one served (a mounted app may also be served alone). */
    size_t skip = app->nchain - app->nown;
    const struct mw *chain = m.app->chain + skip;
    size_t nchain = m.app->nchain - skip;
    if (m.status == 0 && m.nparams == 0 && nchain == 0 && m.mount_offset == 0)
        return m.ep->handler(req, res, m.ep->arg);
    if (m.status == 404 && nchain == 0) return cio_http_response_error(res, 404, NULL);

    struct route_state *st = cio__http_alloc(req, sizeof *st + nchain + m.nparams * sizeof(char *));
    if (!st) return -ENOMEM;
    *st = (struct route_state){.status = m.status, .ep = m.ep, .chain = chain, .nchain = nchain,
                               .nparams = m.nparams, .mount_offset = m.mount_offset};
    st->values = (const char **)(st + 1);
    st->called = (unsigned char *)(st->values + m.nparams);
    memset(st->called, 0, nchain);
    for (size_t i = 0; i < m.nparams; i++) {
        char *v = cio__http_alloc(req, m.raw_len[i] + 1);
        if (!v) return -ENOMEM;
        ssize_t n = cio__http_pct_decode(v, m.raw[i], m.raw_len[i], false);
        if (n < 0 || memchr(v, '\0', (size_t)n)) {
            st->status = 400;
            st->nparams = 0;
            break;
        }
        st->values[i] = v;
    }
    if (m.status == 405) {
        char buf[512];
        size_t n = cio__http_app_allow(&m, buf, sizeof buf);
        st->allow = n ? cio__http_strndup(req, buf, strlen(buf)) : NULL;
    }
    *cio__http_slot(req, CIO__HTTP_SLOT_ROUTE) = st;
    return run_from(st, req, res, 0);
}

/* ---- Request accessors ---------------------------------------------------- */

const char *cio_http_request_param(const cio_http_request *req, const char *name)
{
    if (!req || !name) return NULL;
    const struct route_state *st = *cio__http_slot((cio_http_request *)req, CIO__HTTP_SLOT_ROUTE);
    if (!st || st->status != 0) return NULL;
    for (size_t i = 0; i < st->nparams; i++)
        if (!strcmp(st->ep->names[i], name)) return st->values[i];
    return NULL;
}

const char *cio_http_request_id(const cio_http_request *req)
{
    if (!req) return NULL;
    return *cio__http_slot((cio_http_request *)req, CIO__HTTP_SLOT_REQUEST_ID);
}

size_t cio__http_mount_offset(cio_http_request *req)
{
    if (!req) return 0;
    const struct route_state *st = *cio__http_slot(req, CIO__HTTP_SLOT_ROUTE);
    return st ? st->mount_offset : 0;
}
