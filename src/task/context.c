/* Context variables: asyncio's contextvars for tasks.
 *
 * A task's values are one immutable array of (variable, value) pairs,
 * sorted by the variable's address, behind a reference count. A spawned
 * task shares its parent's array (one increment), so the common case, a
 * context set once near the top (a request id) and read everywhere below,
 * copies nothing. A set copies the array, except when the task holds the
 * only reference: nobody else can see the array then, and it is changed in
 * place. A task that never sets anything has no array at all, which keeps
 * spawning as cheap as before context variables existed.
 *
 * The count is atomic because an array also crosses to the thread pool:
 * a cio_to_thread job carries its submitter's array to a pool thread, which
 * reads it there and drops its reference when the job function returns,
 * while the loop's tasks keep sharing it. The arrays themselves are never
 * written once shared, so reading needs no lock; the pool queue's lock
 * orders the submitter's writes before the job's reads. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct cio__context_pair {
    cio_context_var *var;
    void *value;
};

struct cio__context {
    _Atomic uint32_t refs;
    uint32_t n; /* pairs in use */
    uint32_t cap;
    struct cio__context_pair pairs[];
};

/* The values a cio_to_thread job runs with, on the pool thread running it
 * (NULL elsewhere, and while no job with values runs). */
static __thread const struct cio__context *job_context;

void cio__context_unref(struct cio__context *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}

/* Index of the first pair whose variable is not below var (n if none). */
static uint32_t lower_bound(const struct cio__context *c, const cio_context_var *var)
{
    uint32_t lo = 0, hi = c->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)c->pairs[mid].var < (uintptr_t)var)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void *cio_context_var_get(cio_context_var *var)
{
    if (!var)
        return NULL;
    struct cio__task *t = cio__task_current();
    const struct cio__context *c = t ? t->context : job_context;
    if (c) {
        uint32_t i = lower_bound(c, var);
        if (i < c->n && c->pairs[i].var == var)
            return c->pairs[i].value;
    }
    return var->default_value;
}

static struct cio__context *context_alloc(uint32_t cap)
{
    struct cio__context *c = malloc(sizeof *c + (size_t)cap * sizeof c->pairs[0]);
    if (c) {
        atomic_init(&c->refs, 1);
        c->cap = cap;
    }
    return c;
}

int cio_context_var_set(cio_context_var *var, void *value)
{
    struct cio__task *t = cio__task_current();
    if (!t)
        return -EPERM;
    if (!var)
        return -EINVAL;
    struct cio__context *old = t->context;
    uint32_t n = old ? old->n : 0;
    uint32_t i = old ? lower_bound(old, var) : 0;
    bool found = i < n && old->pairs[i].var == var;
    /* Acquire: a pool thread that dropped its reference read the array
     * before; those reads must be over before it is written here. */
    bool sole = old && atomic_load_explicit(&old->refs, memory_order_acquire) == 1;
    if (found && sole) {
        old->pairs[i].value = value;
        return 0;
    }
    if (!found && sole && n < old->cap) {
        memmove(&old->pairs[i + 1], &old->pairs[i], (n - i) * sizeof old->pairs[0]);
        old->pairs[i] = (struct cio__context_pair){var, value};
        old->n = n + 1;
        return 0;
    }
    if (n == UINT32_MAX - 1)
        return -ENOMEM;
    /* Room for a few more, so a task setting its variables one after the
     * other reallocates only now and then. */
    uint32_t need = found ? n : n + 1;
    uint32_t cap = need < 4 ? 4 : need > UINT32_MAX / 2 ? need : need + need / 2;
    struct cio__context *c = context_alloc(cap);
    if (!c)
        return -ENOMEM;
    if (i)
        memcpy(c->pairs, old->pairs, i * sizeof c->pairs[0]);
    c->pairs[i] = (struct cio__context_pair){var, value};
    uint32_t rest = n - i - (found ? 1 : 0);
    if (rest)
        memcpy(&c->pairs[i + 1], &old->pairs[n - rest], rest * sizeof c->pairs[0]);
    c->n = need;
    t->context = c;
    cio__context_unref(old);
    return 0;
}

/* ---- cio_to_thread ------------------------------------------------------------
 * A job with values runs a trampoline that installs them on the pool thread
 * around the user's function. The trampoline's argument carries the user's
 * function, argument and arg_free; everything else (the result and its
 * destructor, cancellation) passes through the pool unchanged. */

struct context_job {
    cio_work_fn fn;
    void *arg;
    cio_free_fn arg_free;
    struct cio__context *context;
};

static void context_job_free(struct context_job *j)
{
    cio__context_unref(j->context);
    free(j);
}

static int context_job_run(void *p, void **result)
{
    struct context_job *j = p;
    const struct cio__context *prev = job_context; /* a job running a loop of its own */
    job_context = j->context;
    int rc = j->fn(j->arg, result);
    job_context = prev;
    context_job_free(j);
    return rc;
}

/* The job never ran (cancelled before a thread took it): arg is handed to
 * the user's arg_free, as it would have been without values. */
static void context_job_arg_free(void *p)
{
    struct context_job *j = p;
    if (j->arg_free)
        j->arg_free(j->arg);
    context_job_free(j);
}

int cio__context_to_thread_future(cio_loop *loop, const cio_work_options *opts, cio_work_fn fn,
                                  void *arg, cio_future **out)
{
    struct cio__task *t = cio__task_current();
    if (CIO_LIKELY(!t || !t->context))
        return cio_to_thread_future(loop, opts, fn, arg, out);
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!fn)
        return -EINVAL;
    struct context_job *j = malloc(sizeof *j);
    if (!j)
        return -ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->arg_free = opts ? opts->arg_free : NULL;
    j->context = t->context;
    atomic_fetch_add_explicit(&t->context->refs, 1, memory_order_relaxed);
    /* opts is a full-size copy (cio_to_thread_with made it). */
    cio_work_options o = CIO_WORK_OPTIONS_INIT;
    o.arg_free = context_job_arg_free;
    o.result_free = opts ? opts->result_free : NULL;
    int rc = cio_to_thread_future(loop, &o, context_job_run, j, out);
    if (rc)
        context_job_free(j); /* not started: arg is still the caller's */
    return rc;
}

/* ---- tasks ------------------------------------------------------------------- */

struct cio__context *cio__context_inherit(const struct cio__task *parent)
{
    struct cio__context *c = parent ? parent->context : NULL;
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}
