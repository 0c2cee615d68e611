/* condition.c: asyncio.Condition (docs/api/sync.md). Consumers wait until
 * a shared counter has work for them; a producer adds work and notifies.
 * Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

struct shop {
    cio_condition *cond;
    int stock, sold;
};

static bool in_stock(void *arg)
{
    return ((struct shop *)arg)->stock > 0;
}

static int customer(void *arg, void **result)
{
    (void)result;
    struct shop *s = arg;
    int err = cio_condition_acquire(s->cond);
    if (err)
        return err;
    /* Each wait releases the lock and returns with it held again. The
     * first customer loops by hand, the others let wait_for loop. */
    static int customers;
    if (customers++ == 0) {
        while (err == 0 && !in_stock(s))
            err = cio_condition_wait(s->cond);
    } else {
        err = cio_condition_wait_for(s->cond, in_stock, s);
    }
    if (err == 0) {
        s->stock--;
        s->sold++;
    }
    int rerr = cio_condition_release(s->cond);
    return err ? err : rerr;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    /* The condition's lock can be one of ours, shared with other code. */
    cio_lock *lock;
    int err = cio_lock_new(&lock);
    if (err)
        return err;
    struct shop s = {NULL, 0, 0};
    if ((err = cio_condition_new(lock, &s.cond)) != 0) {
        cio_lock_free(lock);
        return err;
    }
    cio_task *t[3];
    size_t n = 0;
    while (n < 3 && (err = cio_spawn(customer, &s, &t[n])) == 0)
        n++;
    if (err == 0)
        err = cio_yield(); /* all three wait: nothing in stock */

    /* One item, one notify: one customer buys. */
    if (err == 0 && (err = cio_condition_acquire(s.cond)) == 0) {
        s.stock = 1;
        err = cio_condition_notify(s.cond, 1);
        int rerr = cio_condition_release(s.cond);
        err = err ? err : rerr;
    }
    if (err == 0)
        err = cio_yield();
    int after_one = s.sold;

    /* Two more and notify_all: the other two buy. */
    if (err == 0 && (err = cio_lock_acquire(lock)) == 0) { /* the same lock */
        s.stock = 2;
        err = cio_condition_notify_all(s.cond);
        int rerr = cio_lock_release(lock);
        err = err ? err : rerr;
    }
    if (err == 0)
        err = cio_gather(t, n, 0, NULL);
    else
        for (size_t i = 0; i < n; i++)
            cio_future_cancel(t[i]);
    for (size_t i = 0; i < n; i++) {
        if (err)
            cio_await(t[i], NULL);
        cio_future_unref(t[i]);
    }
    int ferr = cio_condition_free(s.cond); /* does not free our lock */
    int lerr = cio_lock_free(lock);
    if (err || ferr || lerr)
        return err ? err : ferr ? ferr : lerr;
    if (after_one != 1 || s.sold != 3 || s.stock != 0) {
        fprintf(stderr, "condition.c: unexpected state\n");
        return -EINVAL;
    }
    printf("sold %d\n", s.sold);
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
