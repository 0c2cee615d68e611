/* TEMPORARY: a minimal stand-in for app.c (branch i10-app) until it lands:
 * exact-path routes, 404, no middleware. Removed when i10-app is merged. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct route {
    char *method, *pattern;
    cio_http_handler fn;
    void *arg;
};
struct cio_http_app {
    struct route *routes;
    size_t n;
    atomic_int holds;
};

int cio_http_app_new(cio_http_app **out)
{
    if (!out)
        return -EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

int cio_http_app_free(cio_http_app *app)
{
    if (!app)
        return 0;
    for (size_t i = 0; i < app->n; i++) {
        free(app->routes[i].method);
        free(app->routes[i].pattern);
    }
    free(app->routes);
    free(app);
    return 0;
}

int cio_http_app_route(cio_http_app *app, const char *method, const char *pattern,
                       cio_http_handler handler, void *arg)
{
    if (!app || !pattern || !handler || pattern[0] != '/')
        return -EINVAL;
    if (atomic_load(&app->holds))
        return -EBUSY;
    struct route *r = realloc(app->routes, (app->n + 1) * sizeof *r);
    if (!r)
        return -ENOMEM;
    app->routes = r;
    r[app->n] = (struct route){method ? strdup(method) : NULL, strdup(pattern), handler, arg};
    app->n++;
    return 0;
}

int cio__http_dispatch(cio_http_app *app, cio_http_request *req, cio_http_response *res)
{
    const char *path = cio_http_request_path(req), *m = cio_http_request_method(req);
    for (size_t i = 0; i < app->n; i++) {
        struct route *r = &app->routes[i];
        size_t pl = strlen(r->pattern);
        bool match = strcmp(r->pattern, path) == 0 ||
                     (pl > 1 && r->pattern[pl - 1] == '*' && strncmp(r->pattern, path, pl - 1) == 0);
        if (!match)
            continue;
        if (r->method && strcmp(r->method, m) != 0 &&
            !(strcmp(r->method, "GET") == 0 && strcmp(m, "HEAD") == 0))
            continue;
        return r->fn(req, res, r->arg);
    }
    return cio_http_response_error(res, 404, NULL);
}

void cio__http_app_hold(cio_http_app *app) { atomic_fetch_add(&app->holds, 1); }
void cio__http_app_release(cio_http_app *app) { atomic_fetch_sub(&app->holds, 1); }
