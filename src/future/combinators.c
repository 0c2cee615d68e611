/* Callback-style combinators: gather, wait, wait_for, shield, as_completed.
 *
 * They share one shape. A state object holds references to the inputs and
 * is itself reference counted: one reference for the output future (dropped
 * by the output's free hook), one per input whose done-callback has not run
 * yet, one for a pending timeout timer. The output is referenced weakly
 * (st->out, cleared when it is freed), so dropping the output early is
 * fine: callbacks that still arrive find no output and only drop their
 * reference. The inputs therefore live exactly as long as the output needs
 * their results, and no callback ever touches freed memory.
 *
 * Errors: an input's error that the combinator passes on (gather's first
 * failure, wait_for's outcome) is marked retrieved on the input, since the
 * output now carries it. Errors it does not pass on (later failures in a
 * gather, outcomes inside cio_wait_future) stay unretrieved, so they are reported
 * when the input is freed unless the caller looks: none is lost.
 *
 * Cost: O(n) in all for n inputs. Each input's done-callback gets the
 * address of that input's slot as its argument, so a completion finds its
 * input at once instead of scanning the list (which made a gather of n
 * children cost n^2/2 steps). Only a few whole walks remain, each done once
 * per combinator: completing the output, detaching, cancelling, freeing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../loop/internal.h"
#include "internal.h"

/* White-box tests (tests/future/test_combinators_many.c) count the steps of
 * every walk over the inputs, to show that the total stays O(n). */
#ifndef CIO__SCAN_STEP
#define CIO__SCAN_STEP() ((void)0)
#endif

struct comb;
typedef void (*comb_child_fn)(struct comb *st, size_t i, cio_future *child);

/* One per input: the argument of that input's done-callback. */
struct comb_slot {
    struct comb *st;
    bool pending; /* our done-callback not yet run (or removed) */
};

struct comb {
    uint32_t refs;
    cio_loop *loop;
    cio_future *out; /* weak */
    cio_future **kids;
    size_t n;
    struct comb_slot *slots;
    size_t nfinished;
    cio_handle timer;
    bool timer_pending;
    comb_child_fn on_child;
    /* per-kind */
    int flags;
    int mode;
    bool timed_out;
    void **results;
};

static void comb_unref(struct comb *st)
{
    if (--st->refs)
        return;
    for (size_t i = 0; i < st->n; i++) {
        CIO__SCAN_STEP();
        cio_future_unref(st->kids[i]);
    }
    free(st->kids);
    free(st->slots);
    free(st->results);
    free(st);
}

static void comb_child_done(cio_future *child, void *arg)
{
    struct comb_slot *slot = arg;
    struct comb *st = slot->st;
    if (slot->pending) {
        slot->pending = false;
        st->nfinished++;
        if (st->out)
            st->on_child(st, (size_t)(slot - st->slots), child);
    }
    comb_unref(st);
}

/* Stops listening: removes callbacks not yet scheduled, cancels the timer.
 * The caller holds a reference (a callback's, the timer's or the output's),
 * so the count never reaches zero here. */
static void comb_detach(struct comb *st)
{
    for (size_t i = 0; i < st->n; i++) {
        CIO__SCAN_STEP();
        struct comb_slot *slot = &st->slots[i];
        if (slot->pending && cio_future_remove_done_callback(st->kids[i], comb_child_done, slot) == 0) {
            slot->pending = false;
            st->refs--; /* never the last: the caller holds one */
        }
    }
    if (st->timer_pending && cio_timer_cancel(st->loop, st->timer) == 0) {
        st->timer_pending = false;
        st->refs--;
    }
}

static void comb_out_freed(cio_future *out, void *arg)
{
    (void)out;
    struct comb *st = arg;
    st->out = NULL;
    comb_detach(st);
    comb_unref(st); /* the output's reference */
}

static void comb_timer_fired(void *arg);

static int comb_new(cio_loop *loop, cio_future *const *futs, size_t n, comb_child_fn fn,
                    struct comb **stp, cio_future **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!loop || loop->closed || (n && !futs))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        CIO__SCAN_STEP();
        if (!futs[i] || cio_future_loop(futs[i]) != loop)
            return -EINVAL;
    }
    struct comb *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->loop = loop;
    st->n = n;
    st->on_child = fn;
    if (n) {
        st->kids = malloc(n * sizeof *st->kids);
        st->slots = malloc(n * sizeof *st->slots);
        if (!st->kids || !st->slots) {
            free(st->kids);
            free(st->slots);
            free(st);
            return -ENOMEM;
        }
    }
    int rc = cio_future_new(loop, &st->out);
    if (rc) {
        free(st->kids);
        free(st->slots);
        free(st);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        CIO__SCAN_STEP();
        st->kids[i] = cio_future_ref(futs[i]);
        st->slots[i] = (struct comb_slot){st, false};
    }
    st->refs = 1; /* the output's */
    cio__future_set_free_hook(st->out, comb_out_freed, st);
    *stp = st;
    *out = st->out;
    return 0;
}

/* Registers the done-callbacks; on failure the output is released. */
static int comb_listen(struct comb *st, double timeout)
{
    for (size_t i = 0; i < st->n; i++) {
        CIO__SCAN_STEP();
        int rc = cio_future_add_done_callback(st->kids[i], comb_child_done, &st->slots[i]);
        if (rc)
            return rc;
        st->slots[i].pending = true;
        st->refs++;
    }
    if (timeout >= 0) {
        int rc = cio_call_later(st->loop, timeout, comb_timer_fired, st, &st->timer);
        if (rc)
            return rc;
        st->timer_pending = true;
        st->refs++;
    }
    return 0;
}

/* The public timeout to the internal one: negative for none, else >= 0. */
static double norm_timeout(double timeout)
{
    if (isinf(timeout) && timeout > 0)
        return -1;
    return timeout < 0 ? 0 : timeout;
}

static int comb_fail(struct comb *st, int rc, cio_future **out)
{
    cio_future_unref(st->out); /* the free hook detaches and frees */
    *out = NULL;
    return rc;
}

/* Listens to the inputs (and the timeout), installs the cancel hook. */
static int comb_start(struct comb *st, double timeout, cio__cancel_hook hook, cio_future **out)
{
    int rc = comb_listen(st, timeout);
    if (rc)
        return comb_fail(st, rc, out);
    cio__future_set_cancel_hook(st->out, hook, st);
    return 0;
}

/* Completes out with inner's outcome (the value stays owned by inner).
 * with_message: a cancelled inner passes its cancellation message on, as
 * the CancelledError(msg) that asyncio's wait_for re-raises (its shield
 * calls a bare outer.cancel() instead). */
static void propagate(cio_future *out, cio_future *inner, bool with_message)
{
    void *value;
    int err = cio_future_result(inner, &value);
    if (err == -ECANCELED && with_message)
        cio__future_copy_cancel_message(out, inner);
    if (err)
        cio_future_set_error(out, err);
    else
        cio_future_set_result(out, value, NULL);
}

/* Cancels fut with msg (may be NULL). If the message cannot be copied the
 * cancellation still happens, without it: the children of a cancelled
 * combinator must stop either way. */
static int cancel_with(cio_future *fut, const char *msg)
{
    int rc = cio_future_cancel_with_message(fut, msg);
    return rc == -ENOMEM ? cio_future_cancel(fut) : rc;
}

/* ---- gather ---------------------------------------------------------------- */

static void gather_complete(struct comb *st)
{
    cio_future *out = st->out;
    if (cio__future_cancel_requested(out)) {
        cio_future_set_error(out, -ECANCELED);
        return;
    }
    void **res = st->results;
    st->results = NULL;
    for (size_t i = 0; i < st->n; i++) {
        CIO__SCAN_STEP();
        res[i] = cio__future_peek_result(st->kids[i]);
    }
    cio_future_set_result(out, res, free);
}

static void gather_child(struct comb *st, size_t i, cio_future *child)
{
    (void)i;
    if (cio_future_is_done(st->out))
        return;
    if (!(st->flags & CIO_GATHER_COLLECT)) {
        if (cio_future_is_cancelled(child) || (cio_future_is_done(child) && cio_future_error(child))) {
            int err = cio_future_is_cancelled(child) ? -ECANCELED : cio_future_error(child);
            if (err == -ECANCELED) /* asyncio: outer gets the child's CancelledError(msg) */
                cio__future_copy_cancel_message(st->out, child);
            cio_future_set_error(st->out, err);
            return;
        }
    }
    if (st->nfinished == st->n)
        gather_complete(st);
}

static int gather_cancel(cio_future *out, void *arg)
{
    struct comb *st = arg;
    const char *msg = cio_future_cancel_message(out); /* asyncio: child.cancel(msg=msg) */
    bool any = false;
    for (size_t i = 0; i < st->n; i++) {
        CIO__SCAN_STEP();
        if (cancel_with(st->kids[i], msg) == 0)
            any = true;
    }
    /* Stay pending until the children's outcomes arrive (asyncio), unless
     * every child had already finished and reported. */
    return any || st->nfinished < st->n;
}

int cio_gather_future(cio_loop *loop, cio_future *const *futs, size_t n, int flags, cio_future **out)
{
    if (flags & ~CIO_GATHER_COLLECT)
        return -EINVAL;
    struct comb *st;
    int rc = comb_new(loop, futs, n, gather_child, &st, out);
    if (rc)
        return rc;
    CIO__FUTURE_SITE(st->out); /* debug mode: made by our caller */
    st->flags = flags;
    if (n == 0) {
        cio_future_set_result(st->out, NULL, NULL);
        return 0;
    }
    st->results = malloc(n * sizeof *st->results);
    if (!st->results)
        return comb_fail(st, -ENOMEM, out);
    return comb_start(st, -1, gather_cancel, out);
}

/* ---- wait ------------------------------------------------------------------ */

/* Completes the output with the sets. One allocation holds the header and
 * one array of n pointers: the done ones fill it from the front, the
 * pending ones follow. If it fails the wait cannot report its sets, and
 * -ENOMEM is the truthful outcome. */
static void wait_complete(struct comb *st)
{
    cio_wait_sets *sets = malloc(sizeof *sets + st->n * sizeof(cio_future *));
    if (!sets) {
        cio_future_set_error(st->out, -ENOMEM);
        comb_detach(st);
        return;
    }
    cio_future **all = (cio_future **)(sets + 1);
    size_t d = 0;
    for (size_t i = 0; i < st->n; i++) {
        CIO__SCAN_STEP();
        if (cio_future_is_done(st->kids[i]))
            all[d++] = st->kids[i];
    }
    size_t p = d;
    for (size_t i = 0; i < st->n; i++) {
        CIO__SCAN_STEP();
        if (!cio_future_is_done(st->kids[i]))
            all[p++] = st->kids[i];
    }
    *sets = (cio_wait_sets){all, d, all + d, st->n - d};
    cio_future_set_result(st->out, sets, free);
    comb_detach(st);
}

static void wait_child(struct comb *st, size_t i, cio_future *child)
{
    (void)i;
    if (cio_future_is_done(st->out))
        return;
    bool fire = st->nfinished == st->n;
    if (st->mode == CIO_WAIT_FIRST_COMPLETED)
        fire = true;
    else if (st->mode == CIO_WAIT_FIRST_EXCEPTION && !cio_future_is_cancelled(child) &&
             cio__future_peek_error(child) != 0)
        fire = true; /* peeked: the caller still has to look at it */
    if (fire)
        wait_complete(st);
}

static void comb_timer_fired(void *arg)
{
    struct comb *st = arg;
    st->timer_pending = false;
    if (st->out && !cio_future_is_done(st->out)) {
        st->timed_out = true;
        if (st->mode >= 0) {
            wait_complete(st);
        } else if (st->mode == -1) { /* wait_for */
            cio_future *inner = st->kids[0];
            /* If the inner future finished in this same iteration, its
             * outcome wins: its callback, already scheduled, delivers it. */
            if (!cio_future_is_done(inner))
                cio_future_cancel(inner);
            else
                st->timed_out = false;
        }
    }
    comb_unref(st);
}

static int wait_cancel(cio_future *out, void *arg)
{
    (void)out;
    struct comb *st = arg;
    comb_detach(st); /* leave the children alone */
    return 0;
}

int cio_wait_future(cio_loop *loop, cio_future *const *futs, size_t n, cio_wait_mode mode, double timeout,
                    cio_future **out)
{
    if (n == 0 || (int)mode < 0 || mode > CIO_WAIT_FIRST_EXCEPTION || isnan(timeout)) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    struct comb *st;
    int rc = comb_new(loop, futs, n, wait_child, &st, out);
    if (rc)
        return rc;
    CIO__FUTURE_SITE(st->out);
    st->mode = (int)mode;
    return comb_start(st, norm_timeout(timeout), wait_cancel, out);
}

/* ---- wait_for ------------------------------------------------------------- */

static void wait_for_child(struct comb *st, size_t i, cio_future *inner)
{
    (void)i;
    cio_future *out = st->out;
    if (cio_future_is_done(out))
        return;
    comb_detach(st); /* the timer */
    /* The inner future failing with an error of its own (not the
     * cancellation this wrapper sent it) passes that error on, as asyncio
     * 3.12's wait_for does: the timeout or the cancel must not turn an error
     * into a silent -ETIMEDOUT / -ECANCELED (marked retrieved, it would be
     * lost). */
    int err = cio__future_peek_error(inner);
    bool own_error = err != 0 && err != -ECANCELED;
    if (cio__future_cancel_requested(out) && !own_error) {
        cio__future_mark_retrieved(inner);
        cio_future_set_error(out, -ECANCELED);
    } else if (st->timed_out && err == -ECANCELED) {
        cio__future_mark_retrieved(inner);
        cio_future_set_error(out, -ETIMEDOUT);
    } else {
        propagate(out, inner, true);
    }
}

static int wait_for_cancel(cio_future *out, void *arg)
{
    struct comb *st = arg;
    if (cancel_with(st->kids[0], cio_future_cancel_message(out)) == 0 || st->slots[0].pending)
        return 1; /* finished by wait_for_child */
    return 0;
}

int cio_wait_for_future(cio_loop *loop, cio_future *fut, double timeout, cio_future **out)
{
    if (isnan(timeout)) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    struct comb *st;
    int rc = comb_new(loop, &fut, fut ? 1 : 0, wait_for_child, &st, out);
    if (rc)
        return rc;
    CIO__FUTURE_SITE(st->out);
    if (!fut)
        return comb_fail(st, -EINVAL, out);
    st->mode = -1;
    return comb_start(st, norm_timeout(timeout), wait_for_cancel, out);
}

/* ---- shield ------------------------------------------------------------------ */

static void shield_child(struct comb *st, size_t i, cio_future *inner)
{
    (void)i;
    cio_future *out = st->out;
    if (cio_future_is_done(out))
        return; /* the outer was cancelled; the inner's error stays with it */
    propagate(out, inner, false);
}

static int shield_cancel(cio_future *out, void *arg)
{
    (void)out;
    (void)arg;
    return 0; /* the outer is cancelled; the inner is left alone */
}

int cio_shield_future(cio_loop *loop, cio_future *fut, cio_future **out)
{
    struct comb *st;
    int rc = comb_new(loop, &fut, fut ? 1 : 0, shield_child, &st, out);
    if (rc)
        return rc;
    CIO__FUTURE_SITE(st->out);
    if (!fut)
        return comb_fail(st, -EINVAL, out);
    return comb_start(st, -1, shield_cancel, out);
}

/* ---- as_completed -------------------------------------------------------- */

/* One per input, as for the other combinators: the done-callback's argument. */
struct ac_slot {
    cio_as_completed *it;
    bool pending;
};

/* Steps (next-futures) and completions are matched as asyncio's
 * as_completed matches them through a queue: a step that is cancelled, or
 * whose task is interrupted, gives its step back (handed drops by one), and
 * a completion already assigned to it goes to the next step, ahead of the
 * later ones. So every input is handed out however many steps fail. */
struct cio_as_completed {
    uint32_t refs; /* the user's, one per pending child callback, the timer */
    bool freed;
    cio_loop *loop;
    cio_future **kids;
    struct ac_slot *slots;
    size_t n, handed; /* handed: steps taken and not given back */
    /* Completed, not yet handed out: [dq_head, dq_tail), at most n. */
    cio_future **done_q;
    size_t dq_head, dq_tail;
    /* next() futures waiting: [w_head, w_tail), room for n. Cancelled ones
     * stay until passed over or compacted away. */
    cio_future **waiters;
    size_t w_head, w_tail;
    bool timed_out;
    cio_handle timer;
    bool timer_pending;
    size_t task_waiters; /* tasks suspended in cio_as_completed_next */
};

void cio__as_completed_task_waits(cio_as_completed *it, int delta)
{
    it->task_waiters += (size_t)(ptrdiff_t)delta;
}

static void ac_unref(cio_as_completed *it)
{
    if (--it->refs)
        return;
    for (size_t i = it->w_head; i < it->w_tail; i++) {
        CIO__SCAN_STEP();
        cio_future_unref(it->waiters[i]);
    }
    for (size_t i = 0; i < it->n; i++) {
        CIO__SCAN_STEP();
        cio_future_unref(it->kids[i]);
    }
    free(it->kids);
    free(it->slots);
    free(it->done_q);
    free(it->waiters);
    free(it);
}

/* The oldest waiter still pending (the caller may have cancelled some). */
static cio_future *ac_pop_waiter(cio_as_completed *it)
{
    while (it->w_head < it->w_tail) {
        CIO__SCAN_STEP();
        cio_future *w = it->waiters[it->w_head++];
        if (!cio_future_is_done(w))
            return w;
        cio_future_unref(w);
    }
    return NULL;
}

/* Hands child to the oldest waiting step, or queues it: at the back for a
 * fresh completion, at the front for one an interrupted step gave back
 * (it completed before everything queued behind it). The queue never
 * holds more than n, so moving its contents makes room at either end. */
static void ac_deliver(cio_as_completed *it, cio_future *child, bool front)
{
    cio_future *w = ac_pop_waiter(it);
    if (w) {
        cio_future_set_result(w, child, NULL);
        cio_future_unref(w);
        return;
    }
    size_t len = it->dq_tail - it->dq_head;
    if (front) {
        if (it->dq_head == 0) {
            memmove(it->done_q + 1, it->done_q, len * sizeof *it->done_q);
            it->dq_tail++;
        } else {
            it->dq_head--;
        }
        it->done_q[it->dq_head] = child;
    } else {
        if (it->dq_tail == it->n) {
            memmove(it->done_q, it->done_q + it->dq_head, len * sizeof *it->done_q);
            it->dq_head = 0;
            it->dq_tail = len;
        }
        it->done_q[it->dq_tail++] = child;
    }
}

static void ac_child_done(cio_future *child, void *arg)
{
    struct ac_slot *slot = arg;
    cio_as_completed *it = slot->it;
    slot->pending = false;
    /* After the timeout a completion is not handed out: asyncio's
     * as_completed removes its callbacks then and queues a TimeoutError
     * for every input still pending, so each remaining step fails. */
    if (!it->freed && !it->timed_out)
        ac_deliver(it, child, false);
    ac_unref(it);
}

/* A waiting step its caller cancels gives its step back; the completion
 * it would have received goes to the next step. Never called once the
 * iterator is freed: cio_as_completed_free cancels the waiting steps
 * itself (after setting freed), and no step waits after that. */
static int ac_step_cancelled(cio_future *step, void *arg)
{
    cio_as_completed *it = arg;
    if (!it->freed)
        it->handed--;
    return 0; /* cancelled now */
}

void cio__as_completed_step_interrupted(cio_as_completed *it, cio_future *step, int rc)
{
    if (!cio_future_is_done(step)) {
        cio_future_cancel(step); /* ac_step_cancelled gives the step back */
        return;
    }
    int own = cio__future_peek_error(step);
    cio__future_mark_retrieved(step);
    if (own == rc)
        return; /* the step's own outcome (the timeout), not an interruption */
    it->handed--;
    if (own == 0)
        ac_deliver(it, cio__future_peek_result(step), true);
}

static void ac_timer(void *arg)
{
    cio_as_completed *it = arg;
    it->timer_pending = false;
    it->timed_out = true;
    cio_future *w;
    while ((w = ac_pop_waiter(it))) {
        cio_future_set_error(w, -ETIMEDOUT);
        cio_future_unref(w);
    }
    ac_unref(it);
}

int cio_as_completed_new(cio_loop *loop, cio_future *const *futs, size_t n, double timeout,
                         cio_as_completed **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!loop || loop->closed || (n && !futs) || isnan(timeout))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        CIO__SCAN_STEP();
        if (!futs[i] || cio_future_loop(futs[i]) != loop)
            return -EINVAL;
    }
    cio_as_completed *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->loop = loop;
    it->n = n;
    it->refs = 1;
    size_t cap = n ? n : 1;
    it->kids = malloc(cap * sizeof *it->kids);
    it->slots = malloc(cap * sizeof *it->slots);
    it->done_q = malloc(cap * sizeof *it->done_q);
    it->waiters = malloc(cap * sizeof *it->waiters);
    if (!it->kids || !it->slots || !it->done_q || !it->waiters) {
        it->n = 0;
        ac_unref(it);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        CIO__SCAN_STEP();
        it->kids[i] = cio_future_ref(futs[i]);
        it->slots[i] = (struct ac_slot){it, false};
    }
    for (size_t i = 0; i < n; i++) {
        CIO__SCAN_STEP();
        int rc = cio_future_add_done_callback(it->kids[i], ac_child_done, &it->slots[i]);
        if (rc) {
            cio_as_completed_free(it);
            return rc;
        }
        it->slots[i].pending = true;
        it->refs++;
    }
    timeout = norm_timeout(timeout);
    if (timeout >= 0 && n) {
        int rc = cio_call_later(loop, timeout, ac_timer, it, &it->timer);
        if (rc) {
            cio_as_completed_free(it);
            return rc;
        }
        it->timer_pending = true;
        it->refs++;
    }
    *out = it;
    return 0;
}

int cio_as_completed_next_future(cio_as_completed *it, cio_future **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!it || it->freed)
        return -EINVAL;
    if (it->handed == it->n)
        return -ENODATA;
    cio_future *f;
    int rc = cio_future_new(it->loop, &f);
    if (rc)
        return rc;
    CIO__FUTURE_SITE(f);
    it->handed++;
    if (it->dq_head < it->dq_tail) {
        cio_future_set_result(f, it->done_q[it->dq_head++], NULL);
    } else if (it->timed_out) {
        cio_future_set_error(f, -ETIMEDOUT);
    } else {
        if (it->w_tail == it->n) {
            /* Out of room: drop the cancelled steps. The waiting ones each
             * hold a step, and fewer than n are taken, so room remains. */
            size_t k = 0;
            for (size_t i = it->w_head; i < it->w_tail; i++) {
                CIO__SCAN_STEP();
                cio_future *w = it->waiters[i];
                if (cio_future_is_done(w))
                    cio_future_unref(w);
                else
                    it->waiters[k++] = w;
            }
            it->w_head = 0;
            it->w_tail = k;
        }
        cio__future_set_cancel_hook(f, ac_step_cancelled, it);
        it->waiters[it->w_tail++] = cio_future_ref(f);
    }
    *out = f;
    return 0;
}

int cio_as_completed_free(cio_as_completed *it)
{
    if (!it || it->freed)
        return 0;
    /* A task suspended in cio_as_completed_next reads the iterator when it
     * resumes: cancelling its wait here would also hand it an -ECANCELED
     * it did not ask for. Callback code's next futures are its own to
     * drop, so those are cancelled as before. */
    if (it->task_waiters)
        return -EBUSY;
    it->freed = true;
    cio_future *w;
    while ((w = ac_pop_waiter(it))) {
        cio_future_cancel(w);
        cio_future_unref(w);
    }
    for (size_t i = 0; i < it->n; i++) {
        CIO__SCAN_STEP();
        struct ac_slot *slot = &it->slots[i];
        if (slot->pending && cio_future_remove_done_callback(it->kids[i], ac_child_done, slot) == 0) {
            slot->pending = false;
            it->refs--;
        }
    }
    if (it->timer_pending && cio_timer_cancel(it->loop, it->timer) == 0) {
        it->timer_pending = false;
        it->refs--;
    }
    ac_unref(it);
    return 0;
}
