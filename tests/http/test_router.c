/* The router (src/http/app.c): patterns, priorities, 404/405 and Allow,
 * mounts, percent-encoding, the tree's cost at 10,000 routes, -EBUSY while
 * served; through the lookup the dispatcher runs (cio__http_app_match),
 * with no server. End-to-end routing through a server is further down. */
#include "test.h"

#include "http/app.h"
#include "http/app_stubs.h"

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

int main(int argc, char **argv) { return test_main(argc, argv); }
