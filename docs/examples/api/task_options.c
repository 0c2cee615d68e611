/* task_options.c: options for loops and tasks (docs/api/task.md):
 * cio_run_with, cio_spawn_with, cio_task_group_spawn and cio_task_new with
 * the CIO_..._OPTIONS macros, and the errors of calls made where they do
 * not belong. Exits 0 on success. */
#include <stdio.h>
#include <string.h>

#include <cio.h>

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "task_options.c:%d: check failed: %s\n", __LINE__, #cond); \
            return -EINVAL;                                                         \
        }                                                                           \
    } while (0)

static int named(void *arg, void **result)
{
    (void)arg;
    *result = (void *)cio_task_name(cio_current_task()); /* valid while the task lives */
    return 0;
}

static int nested(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    /* The loop cio_run_with made uses the backend asked for. */
    CHECK(strcmp(cio_loop_backend(cio_current_loop()), "poll") == 0);

    /* A compound literal: size is set, the fields not named are defaults. */
    cio_task *t;
    int err = cio_spawn_with(&CIO_TASK_OPTIONS(.name = "worker", .stack_size = 64 * 1024),
                             named, NULL, &t);
    if (err)
        return err;
    void *name;
    err = cio_await(t, &name);
    bool ok = err == 0 && strcmp(name, "worker") == 0;
    cio_future_unref(t);
    CHECK(ok);

    /* The _INIT form, for options filled in field by field. */
    cio_task_options opts = CIO_TASK_OPTIONS_INIT;
    opts.name = "child";
    cio_task_group *g;
    if ((err = cio_task_group_begin(&g)) != 0)
        return err;
    err = cio_task_group_spawn(g, &opts, named, NULL, &t);
    int end = cio_task_group_end(g);
    if (err)
        return err;
    ok = end == 0 && cio_future_result(t, &name) == 0 && strcmp(name, "child") == 0;
    cio_future_unref(t);
    CHECK(ok);

    /* Options that were never initialised (size 0) are refused. */
    cio_task_options zero;
    memset(&zero, 0, sizeof zero);
    CHECK(cio_spawn_with(&zero, named, NULL, NULL) == -EINVAL);
    CHECK(cio_task_new(cio_current_loop(), &zero, named, NULL, NULL) == -EINVAL);

    /* A loop cannot be run from inside a task: it would block this one. */
    CHECK(cio_run(nested, NULL, NULL) == -EDEADLK);
    CHECK(cio_run_with(NULL, nested, NULL, NULL) == -EDEADLK);
    return 0;
}

int main(void)
{
    /* cio_spawn needs a current task. */
    if (cio_spawn(named, NULL, NULL) != -EPERM)
        return 1;
    int err = cio_run_with(&CIO_LOOP_OPTIONS(.backend = "poll"), main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "cio_run_with: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
