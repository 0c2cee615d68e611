/* task_group.c: asyncio.TaskGroup. Children belong to the group; when one
 * fails, the group cancels the others, and cio_task_group_end returns the
 * first failure once every child has ended. No child outlives the group. */
#include <stdio.h>

#include <cio.h>

struct job {
    const char *name;
    double delay;
    int outcome; /* what the job returns after its delay */
};

static int job(void *arg, void **result)
{
    (void)result;
    const struct job *j = arg;
    int err = cio_sleep(j->delay);
    if (err) {
        printf("%s: %s\n", j->name, cio_err_name(err));
        return err;
    }
    printf("%s: %s after %.2f s\n", j->name, j->outcome ? cio_err_name(j->outcome) : "done",
           j->delay);
    return j->outcome;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static struct job jobs[3] = {
        {"fast", 0.05, 0},
        {"broken", 0.10, -EIO},
        {"slow", 1.00, 0},
    };
    cio_task_group *group;
    int err = cio_task_group_begin(&group);
    if (err)
        return err;
    for (int i = 0; i < 3; i++)
        if ((err = cio_task_group_spawn(group, NULL, job, &jobs[i], NULL)) != 0)
            break; /* wait still runs: the children already started end first */
    int werr = cio_task_group_end(group); /* waits for every child; frees group */
    printf("group: %s\n", werr ? cio_err_name(werr) : "all done");
    return err; /* a failed spawn; the group's outcome was reported above */
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
