/* semaphore.c: asyncio.Semaphore limiting concurrency. Five downloads
 * start at once, but a semaphore of 2 lets only two run at a time; the
 * others wait their turn in cio_semaphore_acquire. Five downloads of
 * 0.05 s each, two at a time, take 0.15 s. Coroutine style. */
#include <stdint.h>
#include <stdio.h>

#include <cio.h>

static cio_semaphore *slots;
static int running, most;

static int download(void *arg, void **result)
{
    (void)result;
    int n = (int)(intptr_t)arg;
    int err = cio_semaphore_acquire(slots); /* waits while two run */
    if (err)
        return err;
    if (++running > most)
        most = running;
    printf("download %d: started, %d running\n", n, running);
    err = cio_sleep(0.05); /* the transfer */
    running--;
    cio_semaphore_release(slots); /* the next waiter may start */
    if (err == 0)
        printf("download %d: done\n", n);
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_loop *loop = cio_current_loop();
    double start = cio_loop_time(loop);
    int err = cio_semaphore_new(2, true, &slots); /* bounded: no release above 2 */
    if (err)
        return err;
    cio_task_group *group;
    if ((err = cio_task_group_begin(&group)) != 0) {
        cio_semaphore_free(slots);
        return err;
    }
    for (intptr_t n = 1; n <= 5 && err == 0; n++)
        err = cio_task_group_spawn(group, NULL, download, (void *)n, NULL);
    int gerr = cio_task_group_end(group);
    if (err == 0 && gerr == 0)
        printf("5 downloads in %.2f s, at most %d at once\n", cio_loop_time(loop) - start, most);
    int ferr = cio_semaphore_free(slots);
    return err ? err : gerr ? gerr : ferr;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
