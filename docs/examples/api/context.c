/* context.c: a request id that every log line of a request prints, without
 * passing it to every function (docs/api/context.md). cio_context_var is
 * asyncio's contextvars.ContextVar: each task has its own value, a task it
 * spawns starts with a copy, and cio_to_thread work sees the value of the
 * task that submitted it. Exits 0 on success. */
#include <stdio.h>
#include <string.h>

#include <cio.h>

static cio_context_var request_id = CIO_CONTEXT_VAR_INIT("request_id", "-");

/* Any function, however deep, finds the id of the request it serves. */
static void log_line(const char *what)
{
    printf("[%s] %s\n", (const char *)cio_context_var_get(&request_id), what);
}

static int check(const char *want)
{
    const char *got = cio_context_var_get(&request_id);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "request id %s, expected %s\n", got, want);
        return -EINVAL;
    }
    return 0;
}

/* Runs on a pool thread: reads the submitting task's value (read-only). */
static int blocking_lookup(void *arg, void **result)
{
    (void)result;
    if (cio_context_var_set(&request_id, "changed") != -EPERM)
        return -EINVAL;
    return check(arg);
}

static int audit(void *arg, void **result)
{
    (void)result;
    int err = check(arg); /* the value its parent had when spawning it */
    if (err)
        return err;
    log_line("audit");
    /* Its own set stays its own. */
    return cio_context_var_set(&request_id, "audit-only");
}

static int handle_request(void *arg, void **result)
{
    (void)result;
    const char *id = arg; /* a string literal: it outlives every reader */
    int err = cio_context_var_set(&request_id, (void *)id);
    if (err)
        return err;
    log_line("start");
    cio_task *child;
    if ((err = cio_spawn(audit, (void *)id, &child)) != 0)
        return err;
    err = cio_await(child, NULL);
    cio_future_unref(child);
    if (err)
        return err;
    if ((err = cio_to_thread(blocking_lookup, (void *)id, NULL)) != 0)
        return err;
    if ((err = check(id)) != 0) /* the child's set did not reach us */
        return err;
    log_line("done");
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static const char *const ids[] = {"req-1", "req-2", "req-3"};
    cio_task *t[3];
    for (int i = 0; i < 3; i++) {
        int err = cio_spawn(handle_request, (void *)ids[i], &t[i]);
        if (err)
            return err;
    }
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        if (cio_await(t[i], NULL) != 0)
            failed = 1;
        cio_future_unref(t[i]);
    }
    /* The requests' values never reached main. */
    return failed ? -EIO : check("-");
}

int main(void)
{
    /* Outside a task: the default, and a set is refused. */
    if (strcmp(cio_context_var_get(&request_id), "-") != 0 ||
        cio_context_var_set(&request_id, "x") != -EPERM)
        return 1;
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
