/* event.c: asyncio.Event. Tasks wait until something happened; here a
 * timer's callback sets the event, and every waiting task wakes, in the
 * order they began to wait. A task that waits once it is set does not
 * wait at all. cio_event_set is an ordinary call, so callback code may
 * set an event for tasks. */
#include <stdio.h>

#include <cio.h>

static cio_event *ready;

static int waiter(void *arg, void **result)
{
    (void)result;
    const char *name = arg;
    printf("%s: waiting\n", name);
    int err = cio_event_wait(ready); /* suspends until the event is set */
    if (err)
        return err;
    printf("%s: going\n", name);
    return 0;
}

static void open_the_doors(void *arg) /* a callback on the loop's thread */
{
    (void)arg;
    printf("timer: setting the event\n");
    cio_event_set(ready); /* wakes every waiter */
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static const char *names[3] = {"A", "B", "C"};
    int err = cio_event_new(&ready);
    if (err)
        return err;
    cio_task_group *group;
    if ((err = cio_task_group_begin(&group)) != 0) {
        cio_event_free(ready);
        return err;
    }
    for (int i = 0; i < 3 && err == 0; i++)
        err = cio_task_group_spawn(group, NULL, waiter, (void *)names[i], NULL);
    if (err == 0)
        err = cio_call_later(cio_current_loop(), 0.05, open_the_doors, NULL, NULL);
    if (err)
        cio_event_set(ready); /* let the waiters go, so that the group can end */
    int gerr = cio_task_group_end(group);
    if (err == 0 && gerr == 0) {
        /* Set now: a late waiter goes straight through. */
        printf("late: the event is %s\n", cio_event_is_set(ready) ? "set" : "clear");
        err = cio_event_wait(ready);
        printf("late: wait returned %d at once\n", err);
    }
    int ferr = cio_event_free(ready);
    return err ? err : gerr ? gerr : ferr;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
