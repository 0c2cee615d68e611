/* cancel.c: cancellation is sticky. Once a task is cancelled, its current
 * suspension and every later one return -ECANCELED, so it cannot carry on
 * by accident; cleanup that must suspend runs inside a shield scope. */
#include <stdio.h>

#include <cio.h>

static int worker(void *arg, void **result)
{
    (void)arg;
    (void)result;
    printf("worker: working\n");
    int err = cio_sleep(3600);
    printf("worker: sleep returned %s\n", cio_err_name(err));
    err = cio_sleep(0.01);
    printf("worker: the next sleep returned %s too\n", cio_err_name(err));

    cio_scope shield;
    cio_shield_begin(&shield);
    int cleanup = cio_sleep(0.01); /* say goodbye to a peer, flush a file... */
    cio_scope_end(&shield);
    printf("worker: cleanup inside a shield returned %d\n", cleanup);
    return -ECANCELED; /* returning 0 here would be reported as swallowed */
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_task *w;
    int err = cio_spawn(worker, NULL, &w);
    if (err)
        return err;
    if ((err = cio_sleep(0.05)) == 0) {
        cio_future_cancel(w);
        err = cio_await(w, NULL);
        printf("main: worker ended with %s, cancelled: %s\n", cio_err_name(err),
               cio_future_is_cancelled(w) ? "yes" : "no");
        err = 0;
    }
    cio_future_unref(w);
    return err;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
