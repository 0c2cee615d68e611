/* queue.c: a producer and two consumers with a bounded queue
 * (asyncio.Queue). put waits while the queue is full, get while it is
 * empty; join waits until every item put was marked done with task_done;
 * shutdown sends the consumers home once the work is done. Coroutine
 * style. */
#include <stdio.h>

#include <cio.h>

struct consumer {
    const char *name;
    cio_queue *q;
};

static int consume(void *arg, void **result)
{
    (void)result;
    const struct consumer *c = arg;
    for (;;) {
        void *item;
        int err = cio_queue_get(c->q, &item); /* waits while the queue is empty */
        if (err == -ESHUTDOWN) {
            printf("%s: the queue is shut down, leaving\n", c->name);
            return 0;
        }
        if (err)
            return err;
        printf("%s: got %d\n", c->name, *(const int *)item);
        err = cio_yield(); /* the work: anything that suspends */
        cio_queue_task_done(c->q);  /* this item is processed */
        if (err)
            return err;
    }
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_queue *q;
    int err = cio_queue_new(CIO_QUEUE_FIFO, 2, NULL, &q); /* at most 2 items */
    if (err)
        return err;
    struct consumer consumers[2] = {{"consumer A", q}, {"consumer B", q}};
    cio_task_group *group;
    if ((err = cio_task_group_begin(&group)) != 0) {
        cio_queue_free(q);
        return err;
    }
    for (int i = 0; i < 2 && err == 0; i++)
        err = cio_task_group_spawn(group, NULL, consume, &consumers[i], NULL);
    static int items[5] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 5 && err == 0; i++) {
        err = cio_queue_put(q, &items[i]); /* waits while the queue is full */
        if (err == 0)
            printf("main: put %d, %zu queued\n", items[i], cio_queue_size(q));
    }
    if (err == 0)
        err = cio_queue_join(q); /* until every item put is taken and done */
    if (err == 0)
        printf("main: every item is processed\n");
    cio_queue_shutdown(q, false); /* gets fail with -ESHUTDOWN once it is empty */
    int gerr = cio_task_group_end(group);
    int ferr = cio_queue_free(q);
    return err ? err : gerr ? gerr : ferr;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
