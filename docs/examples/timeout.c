/* timeout.c: deadlines are scopes. Every suspension inside a deadline scope
 * returns -ETIMEDOUT once the deadline has passed; scopes nest, and the
 * nearest deadline wins. cio_wait_for is asyncio.wait_for: it cancels
 * what it waited for when time runs out. */
#include <stdio.h>

#include <cio.h>

static int slow(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int err = cio_sleep(3600);
    printf("slow: %s\n", cio_err_name(err));
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_scope outer, inner;
    cio_timeout_begin(&outer, 0.05);
    cio_timeout_begin(&inner, 10.0); /* the outer deadline comes first */
    int err = cio_sleep(1.0);
    printf("sleep: %s\n", cio_err_name(err));
    err = cio_sleep(0); /* still past the deadline */
    printf("sleep(0): %s\n", cio_err_name(err));
    printf("inner scope_end: %d\n", cio_scope_end(&inner)); /* not its deadline */
    printf("outer scope_end: %s\n", cio_err_name(cio_scope_end(&outer)));
    printf("after the scope: %d\n", cio_sleep(0));

    cio_task *t;
    if ((err = cio_spawn(slow, NULL, &t)) != 0)
        return err;
    err = cio_wait_for(t, 0.05, NULL);
    printf("wait_for: %s, task cancelled: %s\n", cio_err_name(err),
           cio_future_is_cancelled(t) ? "yes" : "no");
    cio_future_unref(t);
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
