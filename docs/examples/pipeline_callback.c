/* pipeline_callback.c: two dependent steps on the thread pool (parse a
 * number, then double it), each of which may fail, all within a deadline of
 * one second, for two inputs at once. With callbacks, every step is a
 * function of its own, the state travels in a struct, the deadline is a
 * timer that must be cancelled on every way out, and each step checks for
 * errors and for the deadline again. Callback style. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cio.h>

struct job {
    const char *text;
    int err;
    long value;
    cio_future *work;  /* the step running now (our reference) */
    cio_handle timer;  /* the deadline */
    bool timed_out;
};

static cio_loop *loop;
static int running;

static int parse(void *arg, void **result) /* a pool thread */
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*(const char *)arg == '\0' || *end != '\0')
        return -EINVAL;
    *result = (void *)(intptr_t)v;
    return 0;
}

static int twice(void *arg, void **result) /* a pool thread */
{
    *result = (void *)((intptr_t)arg * 2);
    return 0;
}

static void finish(struct job *j, int err, long value)
{
    cio_timer_cancel(loop, j->timer); /* -ENOENT if it fired: harmless */
    j->err = err;
    j->value = value;
    if (--running == 0)
        cio_loop_stop(loop);
}

/* The deadline: cancels the step in progress; its callback sees why. */
static void on_deadline(void *arg)
{
    struct job *j = arg;
    j->timed_out = true;
    cio_future_cancel(j->work);
}

/* Runs fn(arg) on the pool; next(fut, j) is called with its outcome. */
static int submit(struct job *j, cio_work_fn fn, void *arg, cio_future_cb next)
{
    int err = cio_to_thread_future(loop, NULL, fn, arg, &j->work);
    if (err)
        return err;
    if ((err = cio_future_add_done_callback(j->work, next, j)) != 0) {
        cio_future_cancel(j->work);
        cio_future_unref(j->work);
    }
    return err;
}

/* A step's outcome; drops the step's future. */
static int outcome(struct job *j, cio_future *fut, void **value)
{
    int err = cio_future_result(fut, value);
    cio_future_unref(fut); /* j->work: the callback runs on its own reference */
    j->work = NULL;
    return err == -ECANCELED && j->timed_out ? -ETIMEDOUT : err;
}

static void on_doubled(cio_future *fut, void *arg)
{
    void *value = NULL;
    int err = outcome(arg, fut, &value);
    finish(arg, err, (long)(intptr_t)value);
}

static void on_parsed(cio_future *fut, void *arg)
{
    struct job *j = arg;
    void *value = NULL;
    int err = outcome(j, fut, &value);
    if (err == 0)
        err = submit(j, twice, value, on_doubled);
    if (err)
        finish(j, err, 0);
}

int main(void)
{
    static struct job jobs[2] = {{.text = "21"}, {.text = "x"}};
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    for (int i = 0; i < 2; i++) {
        struct job *j = &jobs[i];
        j->err = cio_call_later(loop, 1.0, on_deadline, j, &j->timer);
        if (j->err == 0 && (j->err = submit(j, parse, (void *)j->text, on_parsed)) != 0)
            cio_timer_cancel(loop, j->timer);
        if (j->err == 0)
            running++;
    }
    if (running)
        cio_loop_run_forever(loop);
    for (int i = 0; i < 2; i++) {
        if (jobs[i].err)
            printf("%s: %s\n", jobs[i].text, cio_err_name(jobs[i].err));
        else
            printf("%s -> %ld\n", jobs[i].text, jobs[i].value);
    }
    return cio_loop_free(loop) == 0 ? 0 : 1;
}
