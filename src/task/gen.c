/* Generators: a body task that hands values to its consumer one at a time.
 *
 * Two one-shot futures carry each hand-off: `out` (generator to consumer:
 * a value, or the end) and `in` (consumer to generator: go on, or close).
 * The body is an ordinary task on the consumer's loop, so it may await
 * anything between yields.
 *
 * Generators of cio_run's loop are listed (per thread: cio_run does not
 * nest, and such a generator is only made or advanced by the loop's own
 * tasks) so that cio_run can free those the program left open. Generators
 * of loops the program runs itself are not listed: nothing would free them
 * for it, and an unstarted one may outlive its loop. */
#include <stdlib.h>
#include <string.h>

#include "../common/opts.h"
#include "internal.h"

struct cio_gen {
    cio_future *task;
    cio_gen_fn fn;
    void *arg;
    cio_task_options opts;
    char *name;
    cio_future *out; /* the consumer waits on it */
    cio_future *in;  /* the generator waits on it */
    void *value; /* yielded: generator to consumer */
    void *sent;  /* sent: consumer to generator, read by the pending yield */
    bool started, yielded, finished, closing;
    int body_rc;
    bool listed;
    cio_gen *lnext, *lprev; /* cio_run's list */
};

static __thread struct {
    cio_loop *loop; /* cio_run's loop on this thread, or NULL */
    cio_gen *head;
} run_gens;

static void gen_list(cio_gen *g, cio_loop *loop)
{
    if (g->listed || !loop || loop != run_gens.loop)
        return;
    g->lprev = NULL;
    g->lnext = run_gens.head;
    if (run_gens.head)
        run_gens.head->lprev = g;
    run_gens.head = g;
    g->listed = true;
}

static void gen_unlist(cio_gen *g)
{
    if (!g->listed)
        return;
    if (g->lprev)
        g->lprev->lnext = g->lnext;
    else
        run_gens.head = g->lnext;
    if (g->lnext)
        g->lnext->lprev = g->lprev;
    g->listed = false;
}

static void gen_free(cio_gen *g)
{
    gen_unlist(g);
    cio_future_unref(g->task);
    free(g->name);
    free(g);
}

void cio__gens_begin(cio_loop *loop)
{
    run_gens.loop = loop;
    run_gens.head = NULL;
}

void cio__gens_end(cio_loop *loop)
{
    if (run_gens.loop != loop)
        return;
    cio_gen *g = run_gens.head;
    while (g) {
        cio_gen *next = g->lnext;
        /* A body that did not end still uses g: it is left to the loop's
         * own leak report rather than freed under it. */
        if (!g->started || cio_future_is_done(g->task))
            gen_free(g);
        g = next;
    }
    run_gens.loop = NULL;
    run_gens.head = NULL;
}

int cio_gen_new(const cio_task_options *opts, cio_gen_fn fn, void *arg, cio_gen **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!fn)
        return -EINVAL;
    cio_gen *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->fn = fn;
    g->arg = arg;
    /* A full copy of this library's size: the task made on the first
     * cio_gen_next reads it, long after the caller's struct is gone. */
    g->opts = (cio_task_options)CIO_TASK_OPTIONS_INIT;
    int rc = cio__opts_copy(&g->opts, sizeof g->opts, opts);
    if (rc) {
        free(g);
        return rc;
    }
    if (g->opts.name && !(g->name = strdup(g->opts.name))) {
        free(g);
        return -ENOMEM;
    }
    g->opts.name = g->name;
    struct cio__task *t = cio__task_current();
    if (t)
        gen_list(g, t->loop);
    *out = g;
    return 0;
}

static void hand_out(cio_gen *g)
{
    if (g->out && !cio_future_is_done(g->out))
        cio_future_set_result(g->out, NULL, NULL);
}

static int body(void *arg, void **result)
{
    (void)result;
    cio_gen *g = arg;
    int rc = g->fn(g, g->arg);
    g->finished = true;
    g->yielded = false;
    g->body_rc = rc;
    hand_out(g);
    /* Closing ends the body with -ECANCELED, which cio_gen_close takes as
     * success. Passed on as is: turned into 0 here, a body that close had
     * to cancel (busy between yields) was reported as having swallowed
     * its cancellation. */
    return rc;
}

int cio_gen_yield(cio_gen *g, void *value, void **sent)
{
    if (sent)
        *sent = NULL;
    if (!g)
        return -EINVAL;
    struct cio__task *t = cio__task_current();
    if (!t || !g->task || cio__future_task(g->task) != t)
        return -EPERM;
    if (g->closing)
        return -ECANCELED;
    int rc = cio_future_new(t->loop, &g->in);
    if (rc)
        return rc;
    g->value = value;
    g->yielded = true;
    hand_out(g);
    rc = cio_await(g->in, NULL);
    cio_future_unref(g->in);
    g->in = NULL;
    /* Taken here, not left in g: a value belongs to the one send that
     * carried it, so a later cio_gen_next delivers NULL, not a stale one. */
    void *in = g->sent;
    g->sent = NULL;
    if (g->closing)
        return -ECANCELED;
    if (rc)
        return rc;
    if (sent)
        *sent = in;
    return 0;
}

int cio_gen_next(cio_gen *g, void **value)
{
    return cio_gen_send(g, NULL, value);
}

int cio_gen_send(cio_gen *g, void *in, void **value)
{
    struct cio__task *t = cio__task_current();
    if (!t)
        return -EPERM;
    if (value)
        *value = NULL;
    if (!g)
        return -EINVAL;
    if (g->finished)
        return g->body_rc < 0 && g->body_rc != -ECANCELED ? g->body_rc : -ENODATA;
    if (g->closing)
        return -EINVAL;
    /* asyncio's asend(non-None) on a just-started generator is a
     * TypeError: there is no pending yield to receive the value. */
    if (!g->started && in)
        return -EINVAL;
    /* Started but not suspended in a yield: the body is running (an
     * earlier next was interrupted, or another task waits on it), and
     * nothing would receive the value. asyncio raises RuntimeError
     * ("already running"); a next without a value may still wait. */
    if (g->started && !g->in && in)
        return -EINVAL;
    int rc = cio_future_new(t->loop, &g->out);
    if (rc)
        return rc;
    if (!g->started) {
        rc = cio__task_create(t->loop, &g->opts, body, g, NULL, false, &g->task);
        if (rc) {
            cio_future_unref(g->out);
            g->out = NULL;
            return rc;
        }
        g->started = true;
        gen_list(g, t->loop);
    } else if (g->in) {
        g->sent = in;
        cio_future_set_result(g->in, NULL, NULL); /* go on */
    }
    rc = cio_await(g->out, NULL);
    cio_future_unref(g->out);
    g->out = NULL;
    if (rc)
        return rc;
    if (g->yielded) {
        g->yielded = false;
        if (value)
            *value = g->value;
        return 0;
    }
    if (g->body_rc < 0)
        cio__future_mark_retrieved(g->task); /* passed on here */
    return g->body_rc < 0 ? g->body_rc : -ENODATA;
}

int cio_gen_close(cio_gen *g)
{
    if (!g)
        return 0;
    int rc = 0;
    if (g->started && !cio_future_is_done(g->task)) {
        if (!cio__task_current())
            return -EPERM;
        g->closing = true;
        if (g->in)
            cio_future_set_result(g->in, NULL, NULL); /* its yield returns -ECANCELED */
        else
            cio_future_cancel(g->task); /* busy between yields: interrupt it */
        cio_scope shield;
        cio_shield_begin(&shield);
        rc = cio_await(g->task, NULL);
        cio_scope_end(&shield);
    } else if (g->started) {
        rc = cio_future_error(g->task);
    }
    if (rc == -ECANCELED)
        rc = 0;
    gen_free(g);
    return rc;
}
