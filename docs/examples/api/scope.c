/* scope.c: deadline and shield scopes (asyncio.timeout, timeout_at and
 * Timeout.when/reschedule): a deadline that passes, an absolute deadline
 * read back and moved, an idle timeout that another task pushes back each
 * time there is activity and finally moves into the past, and cleanup that
 * suspends inside a shield after the deadline passed.
 * Reference: docs/api/scope.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include <cio.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return -EPROTO;                                                    \
        }                                                                      \
    } while (0)

/* The "connection": a reader waiting for a message under an idle deadline
 * that the rest of the program may move. */
struct conn {
    cio_future *message; /* completed when a message arrives; never, here */
    cio_scope idle;      /* the reader's idle-timeout scope */
    int reader_rc;
};

static int reader(void *arg, void **result)
{
    (void)result;
    struct conn *c = arg;
    int rc = cio_timeout_begin(&c->idle, 3600); /* an hour of idleness */
    if (rc)
        return rc;
    c->reader_rc = cio_await(c->message, NULL); /* -ETIMEDOUT when the deadline passes */
    bool expired = cio_scope_is_expired(&c->idle);
    /* Cleanup that must suspend even though the deadline passed: a shield
     * scope holds the deadline back while it runs. */
    cio_scope shield;
    cio_shield_begin(&shield);
    int cleanup = cio_sleep(0.001); /* a polite goodbye, say */
    cio_scope_end(&shield);
    printf("reader: await %s, expired %d, cleanup %s\n", cio_err_name(c->reader_rc),
           (int)expired, cio_err_name(cleanup));
    return cio_scope_end(&c->idle) == -ETIMEDOUT ? 0 : -EPROTO;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_loop *loop = cio_current_loop();

    /* 1. A deadline that passes: the sleep returns -ETIMEDOUT, and so does
     * the end of the scope; outside it the task goes on. */
    cio_scope s;
    CHECK(cio_timeout_begin(&s, 0.01) == 0);
    CHECK(cio_sleep(60) == -ETIMEDOUT);
    CHECK(cio_scope_is_expired(&s));
    CHECK(cio_scope_end(&s) == -ETIMEDOUT);

    /* 2. An absolute deadline, read back and moved by the task itself:
     * later, then off altogether, so a sleep it would have cut completes. */
    double when = cio_loop_time(loop) + 0.005;
    CHECK(cio_deadline_begin(&s, when) == 0);
    printf("deadline in %.3f s\n", cio_scope_deadline(&s) - cio_loop_time(loop));
    CHECK(cio_scope_reschedule(&s, when + 60) == 0);
    CHECK(fabs(cio_scope_deadline(&s) - (when + 60)) < 1e-6);
    CHECK(cio_scope_reschedule(&s, INFINITY) == 0);
    CHECK(isinf(cio_scope_deadline(&s)));
    CHECK(cio_sleep(0.02) == 0);
    CHECK(!cio_scope_is_expired(&s));
    CHECK(cio_scope_end(&s) == 0);

    /* 3. An idle timeout moved by another task while the reader waits:
     * pushed back on activity, then into the past to close the connection
     * now, which ends the reader's wait with -ETIMEDOUT. */
    struct conn c = {0};
    CHECK(cio_future_new(loop, &c.message) == 0);
    cio_task *t = NULL;
    CHECK(cio_spawn(reader, &c, &t) == 0);
    CHECK(cio_yield() == 0); /* the reader begins its scope and waits */
    CHECK(cio_scope_reschedule(&c.idle, cio_loop_time(loop) + 7200) == 0); /* activity */
    CHECK(cio_scope_reschedule(&c.idle, cio_loop_time(loop) - 1) == 0);    /* close now */
    CHECK(cio_scope_reschedule(&c.idle, INFINITY) == -EINVAL); /* expired: too late */
    CHECK(cio_await(t, NULL) == 0);
    CHECK(c.reader_rc == -ETIMEDOUT);
    cio_future_unref(t);
    cio_future_cancel(c.message);
    cio_future_unref(c.message);
    return 0;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) {
        fprintf(stderr, "scope: %s (%s)\n", cio_err_name(rc), cio_strerror(rc));
        return 1;
    }
    return 0;
}
