/* Futures. A future is small (one cache line and a bit), recycled through a
 * per-loop free list so that hot paths (the thread pool, combinators) do not
 * call malloc, and keeps its first two done-callbacks inline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core.h"

#define FREE_CACHE_MAX 4096
/* Debug mode reuses a freed future only once this many others wait behind
 * it, so that a reference dropped twice finds it still poisoned. */
#define FREE_QUARANTINE 256

/* The free cache is a circular singly linked list and loop->future_free
 * points at its tail (NULL when empty), so both ends are at hand. Futures
 * are taken from the head. A freed one goes back at the head (still warm)
 * or, in debug mode, at the tail: it then waits behind every other cached
 * future before it is reused. While cached it is poisoned (state FREED, no
 * reference), which is how a double unref is told from a real one. */
static cio_future *cache_pop(cio_loop *loop)
{
    cio_future *tail = loop->future_free;
    if (!tail)
        return NULL;
    cio_future *head = tail->next_free;
    if (head == tail)
        loop->future_free = NULL;
    else
        tail->next_free = head->next_free;
    loop->future_free_count--;
    return head;
}

static void cache_push(cio_loop *loop, cio_future *f, bool at_tail)
{
    cio_future *tail = loop->future_free;
    if (!tail) {
        f->next_free = f;
        loop->future_free = f;
    } else {
        f->next_free = tail->next_free;
        tail->next_free = f;
        if (at_tail)
            loop->future_free = f;
    }
    loop->future_free_count++;
}

/* ---- debug mode: creation sites ---------------------------------------------
 * Debug mode keeps each live future in a table beside the futures, with the
 * code address that made it and a creation number, so that a close refused
 * by live futures lists them by name and creation site, oldest first, and
 * an unretrieved error says where its future came from. Beside, not in the
 * future: outside debug mode that costs no memory, and one branch at
 * creation and one at free. Open addressing with linear probing, deleted
 * by backward shift (no tombstones), at most half full. A future made
 * while debug mode was off is not in the table: the report counts it.
 * The table's type is in loop/internal.h; loop.c writes the report. */
static size_t site_hash(const cio_future *f, size_t cap)
{
    return (size_t)(((uintptr_t)f >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static struct cio__fsite *site_find(struct cio__fsites *t, const cio_future *f)
{
    if (!t || !t->n)
        return NULL;
    for (size_t i = site_hash(f, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (t->v[i].fut == f)
            return &t->v[i];
        if (!t->v[i].fut)
            return NULL;
    }
}

static void site_put(struct cio__fsites *t, struct cio__fsite e)
{
    size_t i = site_hash(e.fut, t->cap);
    while (t->v[i].fut)
        i = (i + 1) & (t->cap - 1);
    t->v[i] = e;
    t->n++;
}

/* Records f, made at site. Debug information only: out of memory, the
 * future is left out (and counted as such in the report). */
static void site_record(cio_loop *loop, cio_future *f, const void *site)
{
    struct cio__fsites *t = loop->fsites;
    if (!t && !(t = loop->fsites = calloc(1, sizeof *t)))
        return;
    if (2 * (t->n + 1) > t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 64;
        struct cio__fsite *old = t->v, *v = calloc(ncap, sizeof *v);
        if (!v)
            return;
        size_t ocap = t->cap;
        t->v = v;
        t->cap = ncap;
        t->n = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].fut)
                site_put(t, old[i]);
        free(old);
    }
    site_put(t, (struct cio__fsite){f, site, ++t->seq});
}

static void site_forget(struct cio__fsites *t, const cio_future *f)
{
    struct cio__fsite *e = site_find(t, f);
    if (!e)
        return;
    /* Backward shift: move up each later entry of the run that the hole
     * would cut off from its home slot. */
    size_t mask = t->cap - 1, hole = (size_t)(e - t->v);
    for (size_t j = (hole + 1) & mask; t->v[j].fut; j = (j + 1) & mask) {
        size_t home = site_hash(t->v[j].fut, t->cap);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->v[hole] = t->v[j];
            hole = j;
        }
    }
    t->v[hole].fut = NULL;
    t->n--;
}

void cio__future_set_site(cio_future *fut, const void *site)
{
    struct cio__fsite *e = site_find(fut->loop->fsites, fut);
    if (e)
        e->site = site;
}

/* Not inlined into a caller of the library's own, so that
 * __builtin_return_address(0) is always the caller of cio_future_new. */
__attribute__((noinline)) int cio_future_new(cio_loop *loop, cio_future **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!loop || loop->closed)
        return -EINVAL;
    int rc = cio__check_thread(loop, __func__);
    if (rc)
        return rc;
    cio_future *f = NULL;
    if (!loop->debug || loop->future_free_count > FREE_QUARANTINE)
        f = cache_pop(loop);
    if (!f && !(f = malloc(sizeof *f)))
        return -ENOMEM;
    f->loop = loop;
    f->refs = 1;
    f->state = CIO_FUTURE_PENDING;
    f->retrieved = false;
    f->cancel_requested = false;
    f->is_task = false;
    f->task = NULL;
    f->err = 0;
    f->cb_slot = UINT32_MAX;
    f->result = NULL;
    f->dtor = NULL;
    f->ncb = 0;
    f->capcb = 2;
    f->cbs = f->inl;
    f->hook = NULL;
    f->hook_arg = NULL;
    f->free_hook = NULL;
    f->free_arg = NULL;
    f->name = NULL;
    f->cancel_msg = NULL;
    loop->futures_live++;
    if (CIO_UNLIKELY(loop->debug))
        site_record(loop, f, __builtin_return_address(0));
    *out = f;
    return 0;
}

/* A future with no reference left is a freed one, still in the cache:
 * the caller dropped or used a reference it no longer held. Reported, and
 * nothing changes (the cache stays intact). */
static void report_freed(cio_future *fut, const char *func)
{
    cio_loop_report(fut->loop,
                    "%s: future %p was already freed (a reference was dropped twice, or "
                    "used after its last unref)",
                    func, (void *)fut);
}

cio_future *cio_future_ref(cio_future *fut)
{
    if (fut) {
        if (CIO_UNLIKELY(fut->refs == 0))
            report_freed(fut, __func__);
        else
            fut->refs++;
    }
    return fut;
}

static void report_unretrieved(cio_future *f)
{
    char buf[32], site[256] = "";
    const char *name = f->name;
    if (!name) {
        snprintf(buf, sizeof buf, "%p", (void *)f);
        name = buf;
    }
    /* Debug mode knows where it was made: which spawn, of many, failed. */
    struct cio__fsite *e = site_find(f->loop->fsites, f);
    if (e) {
        memcpy(site, "; made at ", 10);
        cio__describe_site(e->site, site + 10, sizeof site - 10);
    }
    cio_loop_report(f->loop, "%s %s: error was never retrieved: %s (%s)%s",
                    f->is_task ? "task" : "future", name, cio_err_name(f->err),
                    cio_strerror(f->err), site);
}

void cio_future_unref(cio_future *fut)
{
    if (!fut)
        return;
    if (CIO_UNLIKELY(fut->refs == 0)) {
        report_freed(fut, __func__);
        return;
    }
    if (--fut->refs == 0)
        cio__future_free(fut);
}

void cio__future_free(cio_future *fut)
{
    cio_loop *loop = fut->loop;
    if (fut->state == CIO_FUTURE_DONE && fut->err < 0 && !fut->retrieved)
        report_unretrieved(fut);
    if (fut->free_hook)
        fut->free_hook(fut, fut->free_arg);
    if (fut->dtor)
        fut->dtor(fut->result);
    if (fut->cbs != fut->inl)
        free(fut->cbs);
    free(fut->name);
    fut->name = NULL;
    free(fut->cancel_msg);
    fut->cancel_msg = NULL;
    fut->state = CIO__FUTURE_FREED;
    fut->cbs = fut->inl;
    fut->ncb = 0;
    loop->futures_live--;
    if (CIO_UNLIKELY(loop->fsites != NULL))
        site_forget(loop->fsites, fut);
    if (loop->closed) {
        free(fut);
    } else if (loop->debug) {
        /* The quarantine: the oldest cached future makes room. */
        if (loop->future_free_count >= FREE_CACHE_MAX)
            free(cache_pop(loop));
        cache_push(loop, fut, true);
    } else if (loop->future_free_count < FREE_CACHE_MAX) {
        cache_push(loop, fut, false);
    } else {
        free(fut);
    }
}

void cio__futures_free_cache(cio_loop *loop)
{
    cio_future *f;
    while ((f = cache_pop(loop)))
        free(f);
    loop->future_free_count = 0;
    if (loop->fsites) {
        free(loop->fsites->v);
        free(loop->fsites);
        loop->fsites = NULL;
    }
}

cio_loop *cio_future_loop(const cio_future *fut) { return fut ? fut->loop : NULL; }

/* Schedules every done-callback, in the order added. Each registration
 * holds a reference (taken in add_done_callback), which passes to the
 * scheduled entry. */
static void finish(cio_future *f)
{
    f->hook = NULL;
    uint32_t n = f->ncb;
    f->ncb = 0;
    for (uint32_t i = 0; i < n; i++) {
        cio_future_cb cb = f->cbs[i].cb;
        if (!cb)
            continue; /* a tombstone: removed, its reference already dropped */
        void *arg = f->cbs[i].arg;
        if (cio__ready_push_future(f->loop, cb, arg, f) != 0) {
            /* Out of memory for the queue: run it now rather than lose it. */
            cb(f, arg);
            cio__future_unref(f);
        }
    }
}

/* A task's future is finished by the task alone, with the outcome of its
 * function: task_finish (src/task/task.c) detaches the running state
 * (cio__future_set_task(fut, NULL)) before it completes the future, so
 * while `task` is set nobody else may. Cancelling stays allowed: it goes
 * through the task's cancel hook, which interrupts the task. */
static inline bool finished_by_task(const cio_future *fut) { return fut->task != NULL; }

int cio_future_set_result(cio_future *fut, void *value, cio_free_fn dtor)
{
    if (!fut || fut->state != CIO_FUTURE_PENDING || finished_by_task(fut))
        return -EINVAL;
    fut->state = CIO_FUTURE_DONE;
    fut->result = value;
    fut->dtor = dtor;
    finish(fut);
    return 0;
}

int cio_future_set_error(cio_future *fut, int err)
{
    if (!fut || fut->state != CIO_FUTURE_PENDING || err >= 0 || finished_by_task(fut))
        return -EINVAL;
    fut->state = err == -ECANCELED ? CIO_FUTURE_CANCELLED : CIO_FUTURE_DONE;
    fut->err = err;
    finish(fut);
    return 0;
}

int cio_future_cancel(cio_future *fut)
{
    if (!fut || fut->state != CIO_FUTURE_PENDING)
        return -EINVAL;
    if (fut->cancel_requested)
        return 0;
    fut->cancel_requested = true;
    if (fut->hook) {
        cio__cancel_hook hook = fut->hook;
        if (hook(fut, fut->hook_arg) != 0)
            return 0; /* the hook's owner finishes it */
        if (fut->state != CIO_FUTURE_PENDING)
            return 0; /* the hook finished it */
    }
    fut->state = CIO_FUTURE_CANCELLED;
    fut->err = -ECANCELED;
    finish(fut);
    return 0;
}

int cio_future_cancel_with_message(cio_future *fut, const char *message)
{
    if (!fut || fut->state != CIO_FUTURE_PENDING)
        return -EINVAL;
    /* Only the call that requests the cancellation sets the message: in
     * asyncio too the first cancel's CancelledError(msg) is the one that
     * unwinds the task, and a later cancel(msg2) changes nothing. */
    if (fut->cancel_requested)
        return 0;
    if (message && !(fut->cancel_msg = strdup(message)))
        return -ENOMEM;
    return cio_future_cancel(fut);
}

const char *cio_future_cancel_message(const cio_future *fut)
{
    return fut ? fut->cancel_msg : NULL;
}

void cio__future_copy_cancel_message(cio_future *to, const cio_future *from)
{
    if (to->cancel_msg || !from->cancel_msg)
        return;
    to->cancel_msg = strdup(from->cancel_msg);
}


void cio__future_set_free_hook(cio_future *fut, cio__free_hook hook, void *arg)
{
    fut->free_hook = hook;
    fut->free_arg = arg;
}

bool cio__future_cancel_requested(const cio_future *fut) { return fut->cancel_requested; }
void cio__future_mark_retrieved(cio_future *fut) { fut->retrieved = true; }
bool cio__future_retrieved(const cio_future *fut) { return fut->retrieved; }
int cio__future_peek_error(const cio_future *fut)
{
    return fut->state == CIO_FUTURE_PENDING ? -EAGAIN : fut->err;
}

void *cio__future_peek_result(const cio_future *fut)
{
    return fut && fut->state == CIO_FUTURE_DONE && fut->err == 0 ? fut->result : NULL;
}
bool cio_future_is_done(const cio_future *fut) { return fut && fut->state != CIO_FUTURE_PENDING; }
bool cio_future_is_cancelled(const cio_future *fut)
{
    return fut && fut->state == CIO_FUTURE_CANCELLED;
}

int cio_future_error(cio_future *fut)
{
    if (!fut)
        return -EINVAL;
    if (fut->state == CIO_FUTURE_PENDING)
        return -EAGAIN;
    fut->retrieved = true;
    return fut->err;
}

int cio_future_result(cio_future *fut, void **value)
{
    int rc = cio_future_error(fut);
    if (value)
        *value = rc == 0 ? fut->result : NULL;
    return rc;
}

int cio_future_take_result(cio_future *fut, void **value)
{
    int rc = cio_future_result(fut, value);
    /* The future gives the value up entirely, not only its destructor: a
     * second take handing the same pointer out again would make two owners
     * of one value, a double free waiting to happen. */
    if (rc == 0) {
        fut->result = NULL;
        fut->dtor = NULL;
    }
    return rc;
}

/* White-box tests (tests/task/test_many_tasks.c) count the steps of every
 * walk over a callback list, to show that removals stay O(1) amortized. */
#ifndef CIO__FCB_STEP
#define CIO__FCB_STEP() ((void)0)
#endif

/* Moves entry `from` to `to` (to <= from), keeping an awaiter informed of
 * its entry's new place. */
static inline void move_entry(cio_future *fut, uint32_t from, uint32_t to)
{
    struct cio__fcb *e = &fut->cbs[to];
    *e = fut->cbs[from];
    if (e->cb == cio__hooks.await_done)
        ((cio_future *)e->arg)->cb_slot = to;
}

/* Squeezes the tombstones out of a full list, keeping the order, if they
 * are at least half of it; returns whether it did. Each compaction follows
 * at least as many removals as it moves entries, so it costs O(1) per
 * removal, and the list never grows for want of squeezing: its room stays
 * within twice the most entries it held at once. */
static bool compact(cio_future *fut)
{
    uint32_t dead = 0;
    for (uint32_t i = 0; i < fut->ncb; i++) {
        CIO__FCB_STEP();
        dead += fut->cbs[i].cb == NULL;
    }
    if (dead == 0 || 2 * dead < fut->ncb)
        return false;
    uint32_t j = 0;
    for (uint32_t i = 0; i < fut->ncb; i++) {
        CIO__FCB_STEP();
        if (fut->cbs[i].cb)
            move_entry(fut, i, j++);
    }
    fut->ncb = j;
    return true;
}

/* Appends an entry to a pending future's list; returns its index, or
 * -ENOMEM. */
static int64_t append(cio_future *fut, cio_future_cb cb, void *arg)
{
    if (fut->ncb == fut->capcb && !compact(fut)) {
        uint32_t ncap = fut->capcb * 2;
        struct cio__fcb *p;
        if (fut->cbs == fut->inl) {
            p = malloc(ncap * sizeof *p);
            if (p)
                memcpy(p, fut->inl, sizeof fut->inl);
        } else {
            p = realloc(fut->cbs, ncap * sizeof *p);
        }
        if (!p)
            return -ENOMEM;
        fut->cbs = p;
        fut->capcb = ncap;
    }
    uint32_t i = fut->ncb++;
    fut->cbs[i].cb = cb;
    fut->cbs[i].arg = arg;
    fut->refs++; /* a pending callback keeps the future alive */
    return i;
}

/* A done future: the callback is scheduled at once. */
static int schedule_now(cio_future *fut, cio_future_cb cb, void *arg)
{
    fut->refs++;
    int rc = cio__ready_push_future(fut->loop, cb, arg, fut);
    if (rc)
        fut->refs--;
    return rc;
}

int cio_future_add_done_callback(cio_future *fut, cio_future_cb cb, void *arg)
{
    if (!fut || !cb)
        return -EINVAL;
    if (fut->state != CIO_FUTURE_PENDING)
        return schedule_now(fut, cb, arg);
    int64_t i = append(fut, cb, arg);
    return i < 0 ? (int)i : 0;
}

int cio__future_add_awaiter(cio_future *fut, cio_future *owner)
{
    cio_future_cb cb = cio__hooks.await_done;
    if (fut->state != CIO_FUTURE_PENDING)
        return schedule_now(fut, cb, owner);
    int64_t i = append(fut, cb, owner);
    if (i < 0)
        return (int)i;
    owner->cb_slot = (uint32_t)i;
    return 0;
}

/* Turns entry i into a tombstone, and drops the tombstones at the end of
 * the list (each one once, so O(1) amortized): a list whose last entries
 * come and go never grows. */
static void bury(cio_future *fut, uint32_t i)
{
    fut->cbs[i].cb = NULL;
    fut->cbs[i].arg = NULL;
    while (fut->ncb && fut->cbs[fut->ncb - 1].cb == NULL)
        fut->ncb--;
    fut->refs--; /* never the last: the caller holds one */
}

int cio__future_remove_awaiter(cio_future *fut, cio_future *owner)
{
    uint32_t i = owner->cb_slot;
    /* A stale index (the list was finished and scheduled, or the entry
     * removed by cio_future_remove_done_callback) finds another entry, or
     * none: an owner has one registration at a time, so a match is this
     * one. */
    if (i >= fut->ncb || fut->cbs[i].cb != cio__hooks.await_done || fut->cbs[i].arg != owner)
        return 0;
    owner->cb_slot = UINT32_MAX;
    bury(fut, i);
    return 1;
}

int cio_future_remove_done_callback(cio_future *fut, cio_future_cb cb, void *arg)
{
    if (!fut)
        return -EINVAL;
    /* One pass that removes the matches and squeezes out the tombstones. */
    uint32_t j = 0;
    int removed = 0;
    for (uint32_t i = 0; i < fut->ncb; i++) {
        CIO__FCB_STEP();
        struct cio__fcb *e = &fut->cbs[i];
        if (!e->cb)
            continue;
        if (e->cb == cb && e->arg == arg) {
            if (cb == cio__hooks.await_done)
                ((cio_future *)arg)->cb_slot = UINT32_MAX;
            removed++;
        } else {
            move_entry(fut, i, j++);
        }
    }
    fut->ncb = j;
    fut->refs -= (uint32_t)removed; /* never the last: the caller holds one */
    return removed ? 0 : -ENOENT;
}

int cio_future_set_name(cio_future *fut, const char *name)
{
    if (!fut)
        return -EINVAL;
    char *copy = NULL;
    if (name && !(copy = strdup(name)))
        return -ENOMEM;
    free(fut->name);
    fut->name = copy;
    return 0;
}

const char *cio_future_name(const cio_future *fut) { return fut ? fut->name : NULL; }

bool cio_future_is_task(const cio_future *fut) { return cio__future_is_task(fut); }
