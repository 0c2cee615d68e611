/* Generators: a body task that hands values to its consumer one at a time.
 *
 * Two one-shot futures carry each hand-off: `out` (generator to consumer:
 * a value, or the end) and `in` (consumer to generator: go on, or close).
 * The body is an ordinary task on the consumer's loop, so it may await
 * anything between yields. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct cio_gen {
    cio_future *task;
    cio_gen_fn fn;
    void *arg;
    cio_task_options opts;
    char *name;
    cio_future *out; /* the consumer waits on it */
    cio_future *in;  /* the generator waits on it */
    void *value;
    bool started, yielded, finished, closing;
    int body_rc;
};

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
    if (opts) {
        g->opts = *opts;
        if (opts->name && !(g->name = strdup(opts->name))) {
            free(g);
            return -ENOMEM;
        }
        g->opts.name = g->name;
    }
    *out = g;
    return 0;
}

static void hand_out(cio_gen *g)
{
    if (g->out && !cio_future_done(g->out))
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

int cio_gen_yield(cio_gen *g, void *value)
{
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
    return g->closing ? -ECANCELED : rc;
}

int cio_gen_next(cio_gen *g, void **value)
{
    struct cio__task *t = cio__task_current();
    if (!t)
        return -EPERM;
    if (value)
        *value = NULL;
    if (!g)
        return -EINVAL;
    if (g->finished)
        return g->body_rc < 0 && g->body_rc != -ECANCELED ? g->body_rc : CIO_GEN_END;
    if (g->closing)
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
    } else if (g->in) {
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
    return g->body_rc < 0 ? g->body_rc : CIO_GEN_END;
}

int cio_gen_close(cio_gen *g)
{
    if (!g)
        return 0;
    int rc = 0;
    if (g->started && !cio_future_done(g->task)) {
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
    cio_future_unref(g->task);
    free(g->name);
    free(g);
    return rc;
}
