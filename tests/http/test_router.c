/* cio-test: threaded
 * The router (src/http/app.c): patterns, priorities, 404/405 and Allow,
 * mounts, percent-encoding, the tree's cost at 10,000 routes, -EBUSY while
 * served; through the lookup the dispatcher runs (cio__http_app_match),
 * with no server. End-to-end routing through a server is further down. */
#include <stdatomic.h>

#include "test.h"

#include "http/app.h"
#include "http/app_util.h"

/* Handlers are told apart by their address: each one is a distinct
 * function, compared with the lookup's answer. */
static int h_a(cio_http_request *q, cio_http_response *s, void *a) { (void)q, (void)s, (void)a; return 0; }
static int h_b(cio_http_request *q, cio_http_response *s, void *a) { (void)q, (void)s, (void)a; return 1; }
static int h_c(cio_http_request *q, cio_http_response *s, void *a) { (void)q, (void)s, (void)a; return 2; }
static int h_d(cio_http_request *q, cio_http_response *s, void *a) { (void)q, (void)s, (void)a; return 3; }
static int mw_nop(cio_http_request *q, cio_http_response *s, void *a) { (void)a; return cio_http_next(q, s); }

struct look {
    int status;
    cio_http_handler h;
    void *arg;
    struct cio__http_match m;
    char allow[256];
};

static struct look look(const cio_http_app *app, const char *method, const char *path)
{
    struct look l = {0};
    cio__http_app_match(app, method, path, &l.m);
    l.status = l.m.status;
    if (l.status == 0) l.h = cio__http_endpoint_handler(l.m.ep, &l.arg);
    if (l.status == 405) cio__http_app_allow(&l.m, l.allow, sizeof l.allow);
    return l;
}

/* The i-th bound parameter, raw, as a string (static buffer). */
static const char *raw_param(const struct look *l, size_t i)
{
    static char buf[4][256];
    static int k;
    if (i >= l->m.nparams) return NULL;
    char *b = buf[k++ & 3];
    snprintf(b, 256, "%.*s", (int)l->m.raw_len[i], l->m.raw[i]);
    return b;
}

#define EXPECT_ROUTE(app, method, path, handler)                                                \
    do {                                                                                        \
        struct look l_ = look(app, method, path);                                               \
        if (l_.status != 0 || l_.h != (handler))                                                \
            FAIL("%s %s: status %d, handler %s", method, path, l_.status,                       \
                 l_.h == (handler) ? "right" : "wrong");                                        \
    } while (0)

TEST(app_args)
{
    EXPECT_ERR(-EINVAL, cio_http_app_new(NULL));
    EXPECT_OK(cio_http_app_free(NULL));
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_ERR(-EINVAL, cio_http_app_route(NULL, "GET", "/", h_a, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_route(app, "GET", NULL, h_a, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_route(app, "GET", "/", NULL, NULL));
    static const char *const bad_patterns[] = {
        "", "a", "a/b", "/{", "/{}", "/{a", "/a}", "/{a}b", "/x{a}", "/{a*}/b", "/{*}",
        "/{a}/{a}", "/{a b}", "/{a/b}", "/{a}}", "/{{a}", "/{a**}", "/b/{a*}/",
    };
    for (size_t i = 0; i < sizeof bad_patterns / sizeof *bad_patterns; i++)
        if (cio_http_app_route(app, "GET", bad_patterns[i], h_a, NULL) != -EINVAL)
            FAIL("pattern \"%s\" accepted", bad_patterns[i]);
    static const char *const bad_methods[] = {"", "G ET", "GET\r\n", "GE(T", "\x7f"};
    for (size_t i = 0; i < sizeof bad_methods / sizeof *bad_methods; i++)
        EXPECT_ERR(-EINVAL, cio_http_app_route(app, bad_methods[i], "/", h_a, NULL));
    /* 33 parameters in one pattern: over CIO__HTTP_MAX_PARAMS */
    char many[33 * 6 + 1] = "";
    for (int i = 0; i < 33; i++) snprintf(many + strlen(many), 8, "/{p%d}", i);
    EXPECT_ERR(-EINVAL, cio_http_app_route(app, "GET", many, h_a, NULL));
    many[strlen(many) - 6] = '\0'; /* 32 */
    EXPECT_OK(cio_http_app_route(app, "GET", many, h_a, NULL));

    EXPECT_OK(cio_http_app_route(app, "GET", "/x/{id}", h_a, NULL));
    EXPECT_ERR(-EEXIST, cio_http_app_route(app, "GET", "/x/{id}", h_b, NULL));
    EXPECT_ERR(-EEXIST, cio_http_app_route(app, "GET", "/x/{other}", h_b, NULL));
    EXPECT_OK(cio_http_app_route(app, "POST", "/x/{id}", h_b, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/x/{id}", h_c, NULL));
    EXPECT_ERR(-EEXIST, cio_http_app_route(app, NULL, "/x/{id}", h_c, NULL));

    EXPECT_ERR(-EINVAL, cio_http_app_use(NULL, mw_nop, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_use(app, NULL, NULL));
    EXPECT_OK(cio_http_app_use(app, mw_nop, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_health(NULL, "/health"));
    EXPECT_ERR(-EINVAL, cio_http_app_health(app, NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_health(app, "health"));
    EXPECT_OK(cio_http_app_health(app, "/health"));
    EXPECT_ERR(-EEXIST, cio_http_app_health(app, "/health"));
    EXPECT_ERR(-EINVAL, cio_http_next(NULL, NULL));
    EXPECT_OK(cio_http_app_free(app));
}

TEST(app_priorities)
{
    /* Literal over parameter over wildcard, whatever the order added. */
    for (int order = 0; order < 2; order++) {
        cio_http_app *app;
        EXPECT_OK(cio_http_app_new(&app));
        if (order == 0) {
            EXPECT_OK(cio_http_app_route(app, "GET", "/users/me", h_a, NULL));
            EXPECT_OK(cio_http_app_route(app, "GET", "/users/{id}", h_b, NULL));
            EXPECT_OK(cio_http_app_route(app, "GET", "/users/{rest*}", h_c, NULL));
        } else {
            EXPECT_OK(cio_http_app_route(app, "GET", "/users/{rest*}", h_c, NULL));
            EXPECT_OK(cio_http_app_route(app, "GET", "/users/{id}", h_b, NULL));
            EXPECT_OK(cio_http_app_route(app, "GET", "/users/me", h_a, NULL));
        }
        EXPECT_ROUTE(app, "GET", "/users/me", h_a);
        EXPECT_ROUTE(app, "GET", "/users/42", h_b);
        struct look l = look(app, "GET", "/users/42");
        EXPECT_EQ(1, l.m.nparams);
        EXPECT_STR_EQ("42", raw_param(&l, 0));
        EXPECT_STR_EQ("id", cio__http_endpoint_param(l.m.ep, 0));
        EXPECT_ROUTE(app, "GET", "/users/42/posts", h_c);
        l = look(app, "GET", "/users/42/posts");
        EXPECT_STR_EQ("42/posts", raw_param(&l, 0));
        EXPECT_STR_EQ("rest", cio__http_endpoint_param(l.m.ep, 0));
        /* The wildcard takes an empty rest, a parameter never does. */
        EXPECT_ROUTE(app, "GET", "/users/", h_c);
        l = look(app, "GET", "/users/");
        EXPECT_STR_EQ("", raw_param(&l, 0));
        EXPECT_EQ(404, look(app, "GET", "/users").status);
        EXPECT_EQ(404, look(app, "GET", "/user").status);
        EXPECT_EQ(404, look(app, "GET", "/").status);
        EXPECT_EQ(404, look(app, "GET", "").status);
        EXPECT_EQ(404, look(app, "GET", "*").status);
        EXPECT_OK(cio_http_app_free(app));
    }
}

TEST(app_backtracking)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/a/b/c", h_a, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/a/{x}/d", h_b, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/{y*}", h_c, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/", h_d, NULL));
    EXPECT_ROUTE(app, "GET", "/a/b/c", h_a);
    EXPECT_ROUTE(app, "GET", "/a/b/d", h_b); /* the literal "b" leads nowhere: back up */
    struct look l = look(app, "GET", "/a/b/d");
    EXPECT_EQ(1, l.m.nparams);
    EXPECT_STR_EQ("b", raw_param(&l, 0));
    EXPECT_ROUTE(app, "GET", "/a/b/e", h_c);
    l = look(app, "GET", "/a/b/e");
    EXPECT_EQ(1, l.m.nparams); /* the parameter tried on the way is not kept */
    EXPECT_STR_EQ("a/b/e", raw_param(&l, 0));
    EXPECT_ROUTE(app, "GET", "/", h_d);
    EXPECT_ROUTE(app, "GET", "/zz", h_c);
    EXPECT_ROUTE(app, "GET", "//", h_c);
    /* Empty segments are segments: "/a//d" has no "{x}" to bind. */
    EXPECT_ROUTE(app, "GET", "/a//d", h_c);
    EXPECT_OK(cio_http_app_free(app));
}

TEST(app_methods_405)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/a/b", h_a, NULL));
    EXPECT_OK(cio_http_app_route(app, "POST", "/a/{x}", h_b, NULL));
    EXPECT_OK(cio_http_app_route(app, "PUT", "/a/{r*}", h_c, NULL));
    EXPECT_OK(cio_http_app_route(app, "HEAD", "/h", h_a, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/h", h_b, NULL));
    EXPECT_OK(cio_http_app_route(app, "custom-METHOD", "/c", h_c, NULL));
    EXPECT_ROUTE(app, "GET", "/a/b", h_a);
    EXPECT_ROUTE(app, "HEAD", "/a/b", h_a); /* GET answers HEAD */
    EXPECT_ROUTE(app, "POST", "/a/b", h_b); /* the parameter route has the method */
    EXPECT_ROUTE(app, "PUT", "/a/b", h_c);
    EXPECT_ROUTE(app, "HEAD", "/h", h_a);   /* an own HEAD route wins */
    EXPECT_ROUTE(app, "custom-METHOD", "/c", h_c);
    EXPECT_EQ(405, look(app, "get", "/c").status); /* methods are case-sensitive */
    struct look l = look(app, "DELETE", "/a/b");
    EXPECT_EQ(405, l.status);
    /* Every route matching the path, literal, parameter or wildcard. */
    EXPECT_STR_EQ("GET, HEAD, POST, PUT", l.allow);
    l = look(app, "DELETE", "/a/zz");
    EXPECT_EQ(405, l.status);
    EXPECT_STR_EQ("POST, PUT", l.allow);
    l = look(app, "GET", "/c");
    EXPECT_STR_EQ("custom-METHOD", l.allow);
    EXPECT_EQ(404, look(app, "GET", "/b").status);
    /* A route for any method takes every method. */
    EXPECT_OK(cio_http_app_route(app, NULL, "/a/b", h_d, NULL));
    EXPECT_ROUTE(app, "DELETE", "/a/b", h_d);
    EXPECT_ROUTE(app, "GET", "/a/b", h_a);
    EXPECT_OK(cio_http_app_free(app));
}

TEST(app_percent_encoding)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/caf\xc3\xa9", h_a, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/files/{name}", h_b, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/files/{name}/meta", h_c, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/a b/{x}", h_d, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/abc", h_d, NULL));
    /* Literal segments compare with the decoded segment. */
    EXPECT_ROUTE(app, "GET", "/caf%C3%A9", h_a);
    EXPECT_ROUTE(app, "GET", "/caf%c3%a9", h_a);
    EXPECT_ROUTE(app, "GET", "/%61bc", h_d);
    EXPECT_ROUTE(app, "GET", "/a%20b/1", h_d);
    EXPECT_EQ(404, look(app, "GET", "/caf%C3").status);
    EXPECT_EQ(404, look(app, "GET", "/ab%").status);
    EXPECT_EQ(404, look(app, "GET", "/ab%6").status);
    EXPECT_EQ(404, look(app, "GET", "/%zzbc").status);
    /* "%2F" stays inside its segment. */
    EXPECT_ROUTE(app, "GET", "/files/a%2Fb", h_b);
    struct look l = look(app, "GET", "/files/a%2Fb");
    EXPECT_STR_EQ("a%2Fb", raw_param(&l, 0)); /* raw here; dispatch decodes */
    EXPECT_ROUTE(app, "GET", "/files/a%2Fb/meta", h_c);
    EXPECT_EQ(404, look(app, "GET", "/files/a/b").status);
    EXPECT_OK(cio_http_app_free(app));
}

TEST(app_mounts)
{
    cio_http_app *app, *api, *v1, *other;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_new(&api));
    EXPECT_OK(cio_http_app_new(&v1));
    EXPECT_OK(cio_http_app_new(&other));
    EXPECT_OK(cio_http_app_route(api, "GET", "/", h_a, NULL));
    EXPECT_OK(cio_http_app_route(api, "GET", "/items/{id}", h_b, NULL));
    EXPECT_OK(cio_http_app_route(v1, "GET", "/x", h_c, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/api/own", h_d, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/{all*}", h_c, NULL));

    static const char *const bad[] = {"", "/", "api", "/api/", "/a//b", "/{x}", "/a{"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (cio_http_app_mount(app, bad[i], api) != -EINVAL) FAIL("prefix \"%s\" accepted", bad[i]);
    EXPECT_ERR(-EINVAL, cio_http_app_mount(NULL, "/api", api));
    EXPECT_ERR(-EINVAL, cio_http_app_mount(app, NULL, api));
    EXPECT_ERR(-EINVAL, cio_http_app_mount(app, "/api", NULL));
    EXPECT_ERR(-EINVAL, cio_http_app_mount(app, "/api", app));
    EXPECT_OK(cio_http_app_mount(api, "/v1", v1));
    EXPECT_OK(cio_http_app_mount(app, "/api", api));
    EXPECT_ERR(-EINVAL, cio_http_app_mount(other, "/x", api)); /* mounted already */
    EXPECT_ERR(-EINVAL, cio_http_app_mount(v1, "/x", app));    /* a cycle */
    EXPECT_ERR(-EEXIST, cio_http_app_mount(app, "/api", other));
    EXPECT_ERR(-EBUSY, cio_http_app_free(api)); /* its parent owns it */

    struct look l = look(app, "GET", "/api");
    EXPECT_EQ(0, l.status);
    EXPECT_PTR_EQ(api, l.m.app);
    EXPECT_TRUE(l.h == h_a);
    EXPECT_EQ(1, l.m.path_len); /* the sub-app sees "/" */
    EXPECT_ROUTE(app, "GET", "/api/", h_a);
    EXPECT_ROUTE(app, "GET", "/api/items/7", h_b);
    l = look(app, "GET", "/api/items/7");
    EXPECT_EQ(4, l.m.mount_offset);
    EXPECT_STR_EQ("7", raw_param(&l, 0));
    EXPECT_ROUTE(app, "GET", "/api/v1/x", h_c);
    l = look(app, "GET", "/api/v1/x");
    EXPECT_PTR_EQ(v1, l.m.app);
    EXPECT_EQ(7, l.m.mount_offset);
    /* The parent's own route under the prefix wins when it matches. */
    EXPECT_ROUTE(app, "GET", "/api/own", h_d);
    /* The sub-app answers every other path under its prefix: its 404 and
     * 405, not the parent's catch-all wildcard. */
    l = look(app, "GET", "/api/nothing");
    EXPECT_EQ(404, l.status);
    EXPECT_PTR_EQ(api, l.m.app);
    l = look(app, "POST", "/api/items/7");
    EXPECT_EQ(405, l.status);
    EXPECT_STR_EQ("GET, HEAD", l.allow);
    /* Segments, not string prefixes. */
    l = look(app, "GET", "/apix");
    EXPECT_EQ(0, l.status);
    EXPECT_PTR_EQ(app, l.m.app);
    EXPECT_TRUE(l.h == h_c);
    EXPECT_OK(cio_http_app_free(other));
    EXPECT_OK(cio_http_app_free(app)); /* frees api and v1 */
}

/* 10,000 routes: every one is found, and a lookup visits a handful of
 * nodes (the path's depth plus the backing up), not thousands. */
TEST(app_ten_thousand_routes)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    static cio_http_handler hs[] = {h_a, h_b, h_c, h_d};
    char pat[64], path[64];
    for (int i = 0; i < 10000; i++) {
        switch (i % 4) {
        case 0: snprintf(pat, sizeof pat, "/r%d", i); break;
        case 1: snprintf(pat, sizeof pat, "/items/%d", i); break;
        case 2: snprintf(pat, sizeof pat, "/users/%d/{tab}", i); break;
        default: snprintf(pat, sizeof pat, "/deep/%d/x/%d", i % 97, i); break;
        }
        EXPECT_OK(cio_http_app_route(app, "GET", pat, hs[i % 4], (void *)(intptr_t)i));
    }
    EXPECT_OK(cio_http_app_route(app, "GET", "/items/{id}", h_d, (void *)(intptr_t)-1));
    unsigned max_visits = 0;
    for (int i = 0; i < 10000; i++) {
        switch (i % 4) {
        case 0: snprintf(path, sizeof path, "/r%d", i); break;
        case 1: snprintf(path, sizeof path, "/items/%d", i); break;
        case 2: snprintf(path, sizeof path, "/users/%d/profile", i); break;
        default: snprintf(path, sizeof path, "/deep/%d/x/%d", i % 97, i); break;
        }
        struct look l = look(app, "GET", path);
        if (l.status != 0 || l.h != hs[i % 4] || (intptr_t)l.arg != i)
            FAIL("%s: status %d, arg %ld", path, l.status, (long)(intptr_t)l.arg);
        if (l.m.visits > max_visits) max_visits = l.m.visits;
    }
    EXPECT_TRUE(max_visits <= 5);
    struct look l = look(app, "GET", "/items/abc");
    EXPECT_EQ(-1, (intptr_t)l.arg);
    l = look(app, "GET", "/r10000");
    EXPECT_EQ(404, l.status);
    EXPECT_TRUE(l.m.visits <= 2);
    l = look(app, "GET", "/deep/3/x/99999");
    EXPECT_EQ(404, l.status);
    EXPECT_TRUE(l.m.visits <= 5);
    EXPECT_OK(cio_http_app_free(app));
}

TEST(app_busy_while_held)
{
    cio_http_app *app, *sub, *sub2;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_new(&sub));
    EXPECT_OK(cio_http_app_new(&sub2));
    EXPECT_OK(cio_http_app_mount(app, "/s", sub));
    cio__http_app_hold(app);
    cio__http_app_hold(app); /* two servers */
    EXPECT_ERR(-EBUSY, cio_http_app_route(app, "GET", "/", h_a, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_route(sub, "GET", "/", h_a, NULL)); /* through its parent */
    EXPECT_ERR(-EBUSY, cio_http_app_use(app, mw_nop, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_use(sub, mw_nop, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_mount(app, "/t", sub2));
    EXPECT_ERR(-EBUSY, cio_http_app_health(app, "/h"));
    EXPECT_ERR(-EBUSY, cio_http_app_use_logging(app, 2));
    EXPECT_ERR(-EBUSY, cio_http_app_use_cors(app, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_use_compression(app, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_use_request_id(app, NULL));
    EXPECT_ERR(-EBUSY, cio_http_app_free(app));
    cio__http_app_release(app);
    EXPECT_ERR(-EBUSY, cio_http_app_route(app, "GET", "/", h_a, NULL));
    cio__http_app_release(app);
    EXPECT_OK(cio_http_app_route(app, "GET", "/", h_a, NULL));
    EXPECT_OK(cio_http_app_route(sub, "GET", "/", h_a, NULL));
    cio__http_app_hold(sub2);
    EXPECT_ERR(-EBUSY, cio_http_app_mount(app, "/t", sub2));
    cio__http_app_release(sub2);
    EXPECT_OK(cio_http_app_mount(app, "/t", sub2));
    EXPECT_OK(cio_http_app_free(app));
}

/* Lookups from several threads at once only read the app. */
#include <pthread.h>
static void *reader(void *arg)
{
    cio_http_app *app = arg;
    char path[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(path, sizeof path, "/n/%d", i % 100);
        struct look l = look(app, "GET", path);
        if (l.status != 0 || (intptr_t)l.arg != i % 100) return (void *)1;
    }
    return NULL;
}

TEST(app_concurrent_lookups)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    char pat[32];
    for (int i = 0; i < 100; i++) {
        snprintf(pat, sizeof pat, "/n/%d", i);
        EXPECT_OK(cio_http_app_route(app, "GET", pat, h_a, (void *)(intptr_t)i));
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        cio__http_app_hold(app);
        EXPECT_EQ(0, pthread_create(&t[i], NULL, reader, app));
    }
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        EXPECT_PTR_EQ(NULL, r);
        cio__http_app_release(app);
    }
    EXPECT_OK(cio_http_app_free(app));
}

/* ---- Through a server ----------------------------------------------------- */

static int echo_param(cio_http_request *req, cio_http_response *res, void *arg)
{
    const char *name = arg;
    const char *v = cio_http_request_param(req, name);
    char buf[512];
    size_t off = cio__http_mount_offset(req);
    int n = snprintf(buf, sizeof buf, "%s=%s path=%s", name, v ? v : "(none)",
                     cio_http_request_path(req));
    if (off) snprintf(buf + n, sizeof buf - (size_t)n, " off=%zu", off);
    return cio_http_response_text(res, 200, buf);
}

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *v = cio_http_request_param(req, "id");
    return cio_http_response_text(res, 200, v ? "leaked" : "hello");
}

static int e2e_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app, *api;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_new(&api));
    EXPECT_OK(cio_http_app_route(app, "GET", "/", hello, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/users/{id}", echo_param, "id"));
    EXPECT_OK(cio_http_app_route(app, "DELETE", "/users/{id}", echo_param, "id"));
    EXPECT_OK(cio_http_app_route(app, "GET", "/files/{path*}", echo_param, "path"));
    EXPECT_OK(cio_http_app_route(api, "GET", "/items/{item}", echo_param, "item"));
    EXPECT_OK(cio_http_app_route(api, "GET", "/", echo_param, "none"));
    EXPECT_OK(cio_http_app_mount(app, "/api", api));
    struct srv s;
    srv_start(&s, app);
    EXPECT_ERR(-EBUSY, cio_http_app_route(app, "GET", "/x", hello, NULL));

    struct resp r = request(&s, "GET", "/", NULL);
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("hello", r.body);
    resp_free(&r);
    r = request(&s, "GET", "/users/a%2Fb%20c", NULL);
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("id=a/b c path=/users/a/b c", r.body);
    resp_free(&r);
    r = request(&s, "GET", "/users/%E2%82%AC?x=1", NULL);
    EXPECT_STR_EQ("id=\xe2\x82\xac path=/users/\xe2\x82\xac", r.body);
    resp_free(&r);
    r = request(&s, "GET", "/files/a/b%20c/", NULL);
    EXPECT_STR_EQ("path=a/b c/ path=/files/a/b c/", r.body);
    resp_free(&r);
    r = request(&s, "HEAD", "/users/7", NULL);
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("18", resp_header(&r, "Content-Length"));
    EXPECT_EQ(0, r.body_len);
    resp_free(&r);
    /* 404 and 405 with the server's consistent error body */
    r = request(&s, "GET", "/nothing", NULL);
    EXPECT_EQ(404, r.status);
    EXPECT_STR_EQ("404 Not Found\n", r.body);
    resp_free(&r);
    r = request(&s, "POST", "/users/7", "Content-Length: 0\r\n");
    EXPECT_EQ(405, r.status);
    const char *allow = resp_header(&r, "Allow");
    EXPECT_TRUE(allow && strstr(allow, "GET") && strstr(allow, "HEAD") && strstr(allow, "DELETE") &&
                !strstr(allow, "POST"));
    resp_free(&r);
    /* "OPTIONS *" routes as "/" (its raw path, cio__http_raw_path). */
    r = request(&s, "OPTIONS", "*", NULL);
    EXPECT_EQ(405, r.status);
    EXPECT_STR_EQ("GET, HEAD", resp_header(&r, "Allow"));
    resp_free(&r);
    r = request(&s, "OPTIONS", "/", NULL);
    EXPECT_EQ(405, r.status);
    EXPECT_STR_EQ("GET, HEAD", resp_header(&r, "Allow"));
    resp_free(&r);
    /* A parameter that decodes to NUL never reaches a handler. */
    r = request(&s, "GET", "/users/%00", NULL);
    EXPECT_EQ(400, r.status);
    resp_free(&r);
    r = request(&s, "GET", "/users/%zz", NULL);
    EXPECT_EQ(400, r.status);
    resp_free(&r);
    r = request(&s, "GET", "/files/a%2", NULL);
    EXPECT_EQ(400, r.status);
    resp_free(&r);
    /* Mounted: the sub-app matched the rest; the path stays whole. */
    r = request(&s, "GET", "/api/items/%41", NULL);
    EXPECT_STR_EQ("item=A path=/api/items/A off=4", r.body);
    resp_free(&r);
    r = request(&s, "GET", "/api", NULL);
    EXPECT_STR_EQ("none=(none) path=/api off=4", r.body);
    resp_free(&r);
    r = request(&s, "GET", "/api/zzz", NULL);
    EXPECT_EQ(404, r.status);
    resp_free(&r);

    /* Pipelined on one connection: the parameters of one request are gone
     * at the next (which takes the path without request memory). */
    size_t n;
    char *all = exchange(&s,
                         "GET /users/5 HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET /users/6 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                         &n);
    const char *p = all;
    const char *want[] = {"id=5 path=/users/5", "hello", "id=6 path=/users/6"};
    for (int i = 0; i < 3; i++) {
        resp_parse(&p, &n, false, &r);
        EXPECT_STR_EQ(want[i], r.body);
        resp_free(&r);
    }
    free(all);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_route(app, "GET", "/x", hello, NULL)); /* released */
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST(router_through_server)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(e2e_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- The middleware chain ------------------------------------------------- */

static char trace[512];

static void note(const char *s)
{
    strncat(trace, s, sizeof trace - strlen(trace) - 1);
}

static int mw_trace(cio_http_request *req, cio_http_response *res, void *arg)
{
    const char *name = arg;
    char b[16];
    snprintf(b, sizeof b, "%s> ", name);
    note(b);
    int rc = cio_http_next(req, res);
    EXPECT_ERR(-EALREADY, cio_http_next(req, res));
    snprintf(b, sizeof b, "%s< ", name);
    note(b);
    return rc;
}

static int mw_param(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *id = cio_http_request_param(req, "id");
    if (id && !strcmp(id, "forbidden")) /* answers alone: no next */
        return cio_http_response_error(res, 403, "go away");
    return cio_http_next(req, res);
}

static int h_trace(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    note("H ");
    EXPECT_ERR(-EINVAL, cio_http_next(req, res)); /* not from a middleware */
    EXPECT_ERR(-EINVAL, cio_http_next(req, NULL));
    return cio_http_response_text(res, 200, "done");
}

static int chain_task(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_http_app *app, *sub;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_new(&sub));
    EXPECT_OK(cio_http_app_use(app, mw_trace, "A"));
    EXPECT_OK(cio_http_app_use(app, mw_trace, "B"));
    EXPECT_OK(cio_http_app_use(sub, mw_trace, "C"));
    EXPECT_OK(cio_http_app_use(sub, mw_param, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/top", h_trace, NULL));
    EXPECT_OK(cio_http_app_route(sub, "GET", "/in/{id}", h_trace, NULL));
    /* added after the mount, still runs before the sub-app's */
    EXPECT_OK(cio_http_app_mount(app, "/sub", sub));
    EXPECT_OK(cio_http_app_use(app, mw_trace, "D"));
    struct srv s;
    srv_start(&s, app);

    trace[0] = '\0';
    struct resp r = request(&s, "GET", "/top", NULL);
    EXPECT_STR_EQ("done", r.body);
    EXPECT_STR_EQ("A> B> D> H D< B< A< ", trace);
    resp_free(&r);
    trace[0] = '\0';
    r = request(&s, "GET", "/sub/in/1", NULL);
    EXPECT_STR_EQ("done", r.body);
    EXPECT_STR_EQ("A> B> D> C> H C< D< B< A< ", trace);
    resp_free(&r);
    trace[0] = '\0';
    r = request(&s, "GET", "/sub/in/forbidden", NULL);
    EXPECT_EQ(403, r.status);
    EXPECT_STR_EQ("403 Forbidden\ngo away\n", r.body);
    EXPECT_STR_EQ("A> B> D> C> C< D< B< A< ", trace);
    resp_free(&r);
    /* 404 and 405 run through the chain too */
    trace[0] = '\0';
    r = request(&s, "GET", "/none", NULL);
    EXPECT_EQ(404, r.status);
    EXPECT_STR_EQ("A> B> D> D< B< A< ", trace);
    resp_free(&r);
    trace[0] = '\0';
    r = request(&s, "PUT", "/sub/in/2", "Content-Length: 0\r\n");
    EXPECT_EQ(405, r.status);
    EXPECT_STR_EQ("GET, HEAD", resp_header(&r, "Allow"));
    EXPECT_STR_EQ("A> B> D> C> C< D< B< A< ", trace);
    resp_free(&r);
    srv_stop(&s);
    EXPECT_OK(cio_http_app_free(app));
    return 0;
}

TEST(middleware_chain_order)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(chain_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- Health --------------------------------------------------------------- */

struct health_ctx {
    cio_event *entered, *go;
};

/* Holds /health requests until the test lets them go (after it began a
 * graceful shutdown). */
static int mw_gate(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct health_ctx *h = arg;
    if (!strcmp(cio_http_request_target(req), "/health?gate")) {
        cio_event_set(h->entered);
        EXPECT_OK(cio_event_wait(h->go));
    }
    return cio_http_next(req, res);
}

static int gate_client(void *arg, void **result)
{
    struct srv *s = arg;
    struct resp *r = malloc(sizeof *r);
    *r = request(s, "GET", "/health?gate", NULL);
    *result = r;
    return 0;
}

static int health_task(void *arg, void **result)
{
    (void)arg, (void)result;
    struct health_ctx h;
    EXPECT_OK(cio_event_new(&h.entered));
    EXPECT_OK(cio_event_new(&h.go));
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use(app, mw_gate, &h));
    EXPECT_OK(cio_http_app_health(app, "/health"));
    struct srv s;
    srv_start(&s, app);
    struct resp r = request(&s, "GET", "/health", NULL);
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("ok", r.body);
    resp_free(&r);
    r = request(&s, "HEAD", "/health", NULL);
    EXPECT_EQ(200, r.status);
    resp_free(&r);
    r = request(&s, "POST", "/health", "Content-Length: 0\r\n");
    EXPECT_EQ(405, r.status);
    resp_free(&r);

    cio_task *client;
    EXPECT_OK(cio_spawn(gate_client, &s, &client));
    EXPECT_OK(cio_event_wait(h.entered));
    cio_future *closing;
    EXPECT_OK(cio_http_server_close_future(s.srv, 30, &closing));
    cio_event_set(h.go);
    void *got = NULL;
    EXPECT_OK(cio_await(client, &got));
    struct resp *gr = got;
    EXPECT_EQ(503, gr->status);
    EXPECT_STR_EQ("shutting down", gr->body);
    resp_free(gr);
    free(gr);
    cio_future_unref(client);
    EXPECT_OK(cio_await(closing, NULL));
    cio_future_unref(closing);
    EXPECT_OK(cio_http_app_free(app));
    cio_event_free(h.entered);
    cio_event_free(h.go);
    return 0;
}

TEST(health_endpoint)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(health_task, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- One app, two loops on two threads ------------------------------------ */

static atomic_int mw_count;

static int mw_count_fn(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    atomic_fetch_add(&mw_count, 1);
    return cio_http_next(req, res);
}

struct thread_srv {
    cio_http_app *app;
    int ok;
};

static int thread_task(void *arg, void **result)
{
    (void)result;
    struct thread_srv *t = arg;
    struct srv s;
    srv_start(&s, t->app);
    cio_stream *st;
    EXPECT_OK(cio_stream_connect(&s.addr, NULL, NULL, &st));
    for (int i = 0; i < 200; i++) {
        char req[128], want[64];
        snprintf(req, sizeof req, "GET /users/u%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
        snprintf(want, sizeof want, "id=u%d path=/users/u%d", i, i);
        EXPECT_OK(cio_stream_write(st, req, strlen(req)));
        /* the head, then the 17..19 byte body by its Content-Length */
        char head[1024];
        ssize_t n = cio_stream_read_until(st, "\r\n\r\n", 4, head, sizeof head - 1);
        EXPECT_TRUE(n > 0);
        head[n] = '\0';
        const char *cl = strcasestr(head, "Content-Length:");
        EXPECT_TRUE(cl != NULL);
        size_t len = strtoul(cl + 15, NULL, 10);
        char body[64] = "";
        EXPECT_EQ((ssize_t)len, cio_stream_read_exactly(st, body, len));
        body[len] = '\0';
        EXPECT_STR_EQ(want, body);
        t->ok++;
    }
    cio_stream_close(st);
    srv_stop(&s);
    return 0;
}

static void *thread_main(void *arg)
{
    EXPECT_OK(cio_run(thread_task, arg, NULL));
    return NULL;
}

TEST(one_app_two_threads)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use(app, mw_count_fn, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/users/{id}", echo_param, "id"));
    atomic_store(&mw_count, 0);
    struct thread_srv ts[2] = {{app, 0}, {app, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) EXPECT_EQ(0, pthread_create(&th[i], NULL, thread_main, &ts[i]));
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    EXPECT_EQ(200, ts[0].ok);
    EXPECT_EQ(200, ts[1].ok);
    EXPECT_EQ(400, atomic_load(&mw_count));
    EXPECT_OK(cio_http_app_route(app, "GET", "/later", hello, NULL)); /* both released it */
    EXPECT_OK(cio_http_app_free(app));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
