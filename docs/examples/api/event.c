/* event.c: asyncio.Event (docs/api/sync.md). Workers wait until the main
 * task says "go"; one set wakes them all. Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

static int started, went;

static int worker(void *arg, void **result)
{
    (void)result;
    cio_event *go = arg;
    started++;
    int err = cio_event_wait(go); /* suspends until set */
    if (err)
        return err;
    went++;
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_event *go;
    int err = cio_event_new(&go);
    if (err)
        return err;
    cio_task *t[3];
    size_t n = 0;
    while (n < 3 && (err = cio_spawn(worker, go, &t[n])) == 0)
        n++;
    if (err == 0)
        err = cio_yield(); /* every worker starts and waits */
    int busy = cio_event_free(go); /* -EBUSY: tasks wait on it */
    bool was_set = cio_event_is_set(go);
    int before = started * 10 + went; /* 30: all started, none went */
    cio_event_set(go);                /* wakes every waiter */
    int gerr = cio_gather(t, n, 0, NULL);
    if (err == 0)
        err = gerr;
    for (size_t i = 0; i < n; i++)
        cio_future_unref(t[i]);

    /* A set event lets waits through at once, until cleared. */
    int now = cio_event_wait(go);
    cio_event_clear(go);
    bool cleared = !cio_event_is_set(go);
    int ferr = cio_event_free(go);
    if (err || ferr)
        return err ? err : ferr;
    if (went != 3 || before != 30 || busy != -EBUSY || was_set || now || !cleared) {
        fprintf(stderr, "event.c: unexpected state\n");
        return -EINVAL;
    }
    printf("%d workers went\n", went);
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
