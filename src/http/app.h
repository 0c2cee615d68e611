/* Applications' private interface (app.c), for the shipped middleware
 * (middleware.c) and the router's white-box tests (tests/http/test_router.c):
 * the lookup that cio__http_dispatch runs, without a request, and the
 * middleware registration that owns its argument. */
#ifndef CIO_HTTP_APP_H
#define CIO_HTTP_APP_H

#include <stddef.h>

#include "internal.h"

/* The most parameters one pattern may bind ("{a}" and "{a*}" segments). */
#define CIO__HTTP_MAX_PARAMS 32

struct cio__http_endpoint;

/* The result of matching a method and a raw path against an application. */
struct cio__http_match {
    /* 0: a route matched (ep set); 400: a parameter's percent-encoding is
     * bad or decodes to NUL (reported by the caller that decodes); 404: no
     * route for the path; 405: routes for the path but not the method. */
    int status;
    const struct cio__http_endpoint *ep;
    /* The application that answers: the one served, or a sub-application
     * mounted in it (whose middleware then runs after its parents'). */
    const cio_http_app *app;
    /* The path that application matched (the rest under its mounts), and
     * where it begins in the raw path. */
    const char *path;
    size_t path_len;
    size_t mount_offset;
    /* Raw (still percent-encoded) values of the bound parameters, in the
     * pattern's order; their names come from the endpoint. */
    size_t nparams;
    const char *raw[CIO__HTTP_MAX_PARAMS];
    size_t raw_len[CIO__HTTP_MAX_PARAMS];
    /* Tree nodes visited: the lookup's cost (the tests check it stays
     * small whatever the number of routes). */
    unsigned visits;
};

/* Matches method and raw_path (as cio__http_raw_path gives it) against
 * app. m->status says what was found. Reads app only (safe from several
 * threads at once). */
void cio__http_app_match(const cio_http_app *app, const char *method, const char *raw_path,
                         struct cio__http_match *m);
/* The matched endpoint's handler, argument and the name of its i-th
 * parameter. */
cio_http_handler cio__http_endpoint_handler(const struct cio__http_endpoint *ep, void **arg);
const char *cio__http_endpoint_param(const struct cio__http_endpoint *ep, size_t i);
/* The Allow value for a 405 (every method the path accepts, HEAD with
 * GET) written into buf (NUL-terminated, truncated to size). Returns its
 * length, 0 when the path accepts no method (a 404). */
size_t cio__http_app_allow(const struct cio__http_match *m, char *buf, size_t size);

/* cio_http_app_use with an argument the app owns: free_arg(arg) runs
 * when the app is freed (and at once when this fails). */
int cio__http_app_use_owned(cio_http_app *app, cio_http_middleware mw, void *arg,
                            void (*free_arg)(void *));

/* Calls fn(arg) when app is freed (in the reverse order of adding): the
 * state a route's handler argument holds (static.c: a mount's root
 * descriptor). Returns 0, -EINVAL, -ENOMEM (fn not registered). */
int cio__http_app_on_free(cio_http_app *app, void (*fn)(void *), void *arg);

/* The offset in the raw path where the answering (sub-)application's
 * path begins: 0 unless mounted. 0 outside a dispatch. */
size_t cio__http_mount_offset(cio_http_request *req);

#endif
