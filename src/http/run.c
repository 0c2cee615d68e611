/* Serving: cio_http_serve (one server for the life of a task) and
 * cio_http_run (one per core, sharing the port with SO_REUSEPORT).
 *
 * Port 0 on several workers: each worker binding port 0 would get a port
 * of its own, so worker 0 binds first and publishes the port it got, and
 * the others wait for it and bind that port (SO_REUSEPORT lets them join).
 * They wait in their own task, on a future of their own loop that worker 0
 * completes through cio_call_soon_threadsafe, so a stop (which cancels
 * their task) ends the wait too, whatever became of worker 0. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cio/http.h>
#include <cio/net.h>
#include <cio/task.h>

#include "../common/opts.h"

/* Told once whether the server listens (rc 0, with its address) or not. */
typedef void (*listening_fn)(void *arg, int rc, const cio_addr *bound);

/* Waits until the task is cancelled or its deadline passes. */
static int wait_forever(void)
{
    int rc;
    do
        rc = cio_sleep(INFINITY);
    while (rc == 0);
    return rc;
}

static int serve(cio_http_app *app, const cio_addr *addr, const cio_http_server_options *opts,
                 cio_addr *ready, listening_fn cb, void *cb_arg)
{
    cio_http_server *srv;
    int rc = cio_http_server_new(app, addr, opts, &srv);
    cio_addr bound;
    if (rc == 0)
        rc = cio_http_server_addr(srv, &bound);
    if (cb)
        cb(cb_arg, rc, &bound);
    if (rc) {
        if (srv) {
            cio_scope shield;
            cio_shield_begin(&shield);
            cio_http_server_close(srv, 0);
            cio_scope_end(&shield);
        }
        return rc;
    }
    if (ready)
        *ready = bound;
    rc = wait_forever();
    /* The shutdown must run to its end (it frees the server) although the
     * task is cancelled: in a shield, where the grace is the server's own
     * (opts->shutdown_grace). */
    cio_scope shield;
    cio_shield_begin(&shield);
    int crc = cio_http_server_close(srv, -1);
    cio_scope_end(&shield);
    if (crc && crc != -ECANCELED && crc != -ETIMEDOUT)
        cio_loop_report(cio_current_loop(), "cio_http_serve: the server's shutdown failed: %s",
                        cio_strerror(crc));
    return rc;
}

int cio_http_serve(cio_http_app *app, const cio_addr *addr, const cio_http_server_options *opts,
                   cio_addr *ready)
{
    if (!app || !addr)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    return serve(app, addr, opts, ready, NULL, NULL);
}

/* ---- every core ------------------------------------------------------------ */

/* A worker waiting for worker 0's port: on its own stack, linked while it
 * waits (under the run's lock). */
struct port_waiter {
    struct port_waiter *next;
    cio_loop *loop;
    cio_future *fut;
    bool sent; /* a wake_waiter call has the call's reference */
};

struct http_run {
    cio_http_app *app;
    cio_addr addr;
    cio_http_server_options opts; /* .socket points to sock */
    cio_socket_options sock;      /* the caller's, with reuseport set */
    pthread_mutex_t lock;
    int port_state;               /* 0: not yet; 1: bound; < 0: worker 0 failed */
    cio_addr bound;               /* worker 0's address, once bound */
    struct port_waiter *waiters;
};

static uint16_t addr_port(const cio_addr *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return ntohs(a->u.in4.sin_port);
    if (a->u.sa.sa_family == AF_INET6)
        return ntohs(a->u.in6.sin6_port);
    return 0;
}

/* On a waiting worker's loop: wakes it (the call holds a reference). */
static void wake_waiter(void *arg)
{
    cio_future *fut = arg;
    if (!cio_future_is_done(fut))
        cio_future_set_result(fut, NULL, NULL);
    cio_future_unref(fut);
}

/* Worker 0 bound (rc 0) or failed: tells the workers waiting. A waiter is
 * linked only while its task waits, and unlinks itself under the lock, so
 * its loop runs while the call is made (and a loop runs every call it
 * accepted before it ends). The call takes over the reference the waiter
 * took for it (futures are counted on their loop's thread only). */
static void publish_port(void *arg, int rc, const cio_addr *bound)
{
    struct http_run *r = arg;
    pthread_mutex_lock(&r->lock);
    r->port_state = rc ? -1 : 1;
    if (!rc)
        r->bound = *bound;
    for (struct port_waiter *w = r->waiters; w; w = w->next)
        /* Out of memory: the waiter keeps its reference, and the stop
         * that follows worker 0's failure or a signal ends its wait. */
        w->sent = cio_call_soon_threadsafe(w->loop, wake_waiter, w->fut) == 0;
    r->waiters = NULL;
    pthread_mutex_unlock(&r->lock);
}

/* A worker but the first: the address worker 0 bound, or -ECANCELED /
 * -ETIMEDOUT once stopped. */
static int wait_port(struct http_run *r, cio_addr *out)
{
    struct port_waiter w = {.loop = cio_current_loop()};
    int rc = cio_future_new(w.loop, &w.fut);
    if (rc)
        return rc;
    cio_future_ref(w.fut); /* the call's, should publish_port make one */
    pthread_mutex_lock(&r->lock);
    bool wait = r->port_state == 0;
    if (wait) {
        w.next = r->waiters;
        r->waiters = &w;
    }
    pthread_mutex_unlock(&r->lock);
    if (wait)
        rc = cio_await(w.fut, NULL);
    pthread_mutex_lock(&r->lock);
    for (struct port_waiter **p = &r->waiters; *p; p = &(*p)->next)
        if (*p == &w) {
            *p = w.next;
            break;
        }
    int state = r->port_state;
    *out = r->bound;
    bool sent = w.sent;
    pthread_mutex_unlock(&r->lock);
    if (!sent)
        cio_future_unref(w.fut);
    cio_future_unref(w.fut);
    if (rc)
        return rc;
    /* Worker 0 failed: its failure stops the run, which cancels this task;
     * failing here too would race with it for the run's error. */
    if (state < 0)
        return wait_forever();
    return 0;
}

static int run_worker(void *arg, void **result)
{
    (void)result;
    struct http_run *r = arg;
    bool share = addr_port(&r->addr) == 0 && cio_parallel_count() > 1 &&
                 r->addr.u.sa.sa_family != AF_UNIX;
    if (!share)
        return serve(r->app, &r->addr, &r->opts, NULL, NULL, NULL);
    if (cio_parallel_index() == 0)
        return serve(r->app, &r->addr, &r->opts, NULL, publish_port, r);
    cio_addr addr;
    int rc = wait_port(r, &addr);
    if (rc)
        return rc;
    return serve(r->app, &addr, &r->opts, NULL, NULL, NULL);
}

int cio_http_run(cio_http_app *app, const cio_addr *addr, const cio_http_server_options *opts,
                 size_t threads)
{
    if (!app || !addr)
        return -EINVAL;
    struct http_run r = {.app = app, .addr = *addr};
    r.opts = (cio_http_server_options)CIO_HTTP_SERVER_OPTIONS_INIT;
    int rc = cio__opts_copy(&r.opts, sizeof r.opts, opts);
    if (rc)
        return rc;
    r.sock = (cio_socket_options)CIO_SOCKET_OPTIONS_INIT;
    if ((rc = cio__opts_copy(&r.sock, sizeof r.sock, r.opts.socket)) != 0)
        return rc;
    r.sock.reuseport = true;
    r.opts.socket = &r.sock;
    /* A Unix socket's path cannot be shared: one worker. */
    if (addr->u.sa.sa_family == AF_UNIX) {
        if (threads > 1)
            return -EINVAL;
        threads = 1;
    }
    pthread_mutex_init(&r.lock, NULL);
    rc = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = threads, .stop_on_signals = true),
                          run_worker, &r);
    pthread_mutex_destroy(&r.lock);
    return rc;
}
