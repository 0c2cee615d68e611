/* add_coroutine.c: the same add(2, 3) on the thread pool, awaited by a
 * task: the code reads top to bottom. Coroutine style. */
#include <stdint.h>
#include <stdio.h>

#include <cio.h>

static int add(void *arg, void **result) /* a pool thread */
{
    const int *xy = arg;
    *result = (void *)(intptr_t)(xy[0] + xy[1]);
    return 0;
}

static int main_task(void *arg, void **result) /* a task on the loop */
{
    (void)arg;
    (void)result;
    static const int xy[2] = {2, 3};
    void *value;
    int err = cio_to_thread(add, (void *)xy, &value); /* suspends this task */
    if (err)
        return err;
    printf("The result is: %d\n", (int)(intptr_t)value);
    return 0;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task failed: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
