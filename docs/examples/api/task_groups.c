/* task_groups.c: asyncio.TaskGroup (docs/api/task.md). A group whose
 * children all succeed, one stopped with cio_task_group_cancel, and one
 * where a child's failure cancels its siblings and interrupts the owner
 * once. Exits 0 on success. */
#include <stdio.h>

#include <cio.h>

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "task_groups.c:%d: check failed: %s\n", __LINE__, #cond); \
            return -EINVAL;                                                        \
        }                                                                          \
    } while (0)

static int total;

static int add(void *arg, void **result)
{
    (void)result;
    int err = cio_yield();
    if (err)
        return err;
    total += (int)(intptr_t)arg;
    return 0;
}

static int forever(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cio_sleep(3600); /* -ECANCELED when the group cancels it */
}

static int fail(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int err = cio_yield();
    return err ? err : -EIO;
}

/* A child may spawn siblings into its own group. */
static int parent(void *arg, void **result)
{
    (void)result;
    cio_task_group *g = arg;
    return cio_task_group_spawn(g, NULL, add, (void *)(intptr_t)100, NULL);
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;

    /* 1. Every child succeeds: end returns 0 once all have ended. */
    cio_task_group *g;
    int err = cio_task_group_begin(&g);
    if (err)
        return err;
    for (int i = 1; i <= 3 && err == 0; i++)
        err = cio_task_group_spawn(g, NULL, add, (void *)(intptr_t)i, NULL);
    if (err == 0)
        err = cio_task_group_spawn(g, NULL, parent, g, NULL);
    int end = cio_task_group_end(g); /* waits, then frees g */
    if (err)
        return err;
    CHECK(end == 0 && total == 106);

    /* 2. cio_task_group_cancel: cancelled children are not failures. */
    if ((err = cio_task_group_begin(&g)) != 0)
        return err;
    cio_task *child = NULL;
    err = cio_task_group_spawn(g, NULL, forever, NULL, &child);
    if (err == 0)
        err = cio_yield(); /* let it start sleeping */
    cio_task_group_cancel(g);
    end = cio_task_group_end(g);
    if (err) {
        cio_future_unref(child);
        return err;
    }
    CHECK(end == 0 && cio_future_is_cancelled(child));
    cio_future_unref(child); /* our reference from the spawn */

    /* 3. A child fails: its siblings are cancelled, the owner's current
     * suspension fails once with -ECANCELED, end returns the failure. */
    if ((err = cio_task_group_begin(&g)) != 0)
        return err;
    err = cio_task_group_spawn(g, NULL, forever, NULL, NULL);
    if (err == 0)
        err = cio_task_group_spawn(g, NULL, fail, NULL, NULL);
    int slept = err ? 0 : cio_sleep(3600); /* interrupted by the failure */
    int refused = err ? 0 : cio_task_group_spawn(g, NULL, add, NULL, NULL);
    end = cio_task_group_end(g);
    if (err)
        return err;
    CHECK(slept == -ECANCELED && refused == -EBUSY && end == -EIO);
    /* The interruption was not sticky: the owner goes on. */
    if ((err = cio_yield()) != 0)
        return err;
    printf("groups: total %d, failure %s\n", total, cio_err_name(end));
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
