/* generator.c: async generators (asyncio's async def with yield): values
 * handed out one per cio_gen_next, values sent in with cio_gen_send (asend),
 * awaiting between yields, the end (-ENODATA), an error, and closing a
 * generator early so that its cleanup runs.
 * Reference: docs/api/generator.md. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cio.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return -EPROTO;                                                    \
        }                                                                      \
    } while (0)

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

/* Counts from 1 to *arg, sleeping a little before each value (a generator
 * may await anything between yields). Its buffer is freed on every way
 * out: the end, or an early close, where the pending yield returns
 * -ECANCELED. */
static int countdown(cio_gen *gen, void *arg)
{
    int n = *(int *)arg;
    char *buffer = malloc(64); /* stands for a resource the body holds */
    if (!buffer)
        return -ENOMEM;
    int rc = 0;
    for (int i = 1; i <= n && rc == 0; i++) {
        rc = cio_sleep(0.001);
        if (rc == 0)
            rc = cio_gen_yield(gen, V(i), NULL);
    }
    free(buffer);
    printf("countdown: cleanup (%s)\n", rc ? cio_err_name(rc) : "finished");
    return rc;
}

/* A running total: each yield hands out the total so far, and what the
 * consumer sends in is added to it (cio_gen_next sends NULL: adds 0). A
 * negative value fails the generator with -EDOM. */
static int running_total(cio_gen *gen, void *arg)
{
    (void)arg;
    intptr_t total = 0;
    for (;;) {
        void *in = NULL;
        int rc = cio_gen_yield(gen, V(total), &in);
        if (rc)
            return rc;
        intptr_t x = (intptr_t)in;
        if (x < 0)
            return -EDOM;
        total += x;
    }
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;

    /* 1. Values one at a time, then the end. */
    int three = 3;
    cio_gen *g = NULL;
    int rc = cio_gen_new(NULL, countdown, &three, &g);
    if (rc)
        return rc;
    void *v = NULL;
    while ((rc = cio_gen_next(g, &v)) == 0)
        printf("next: %d\n", (int)U(v));
    CHECK(rc == -ENODATA);               /* the end of the iteration */
    CHECK(cio_gen_next(g, &v) == -ENODATA); /* and it stays the end */
    CHECK(cio_gen_close(g) == 0);

    /* 2. Closing early: the pending yield returns -ECANCELED, the body
     * cleans up, and cio_gen_close returns 0. */
    int many = 1000;
    CHECK(cio_gen_new(NULL, countdown, &many, &g) == 0);
    CHECK(cio_gen_next(g, &v) == 0 && U(v) == 1);
    CHECK(cio_gen_next(g, &v) == 0 && U(v) == 2);
    CHECK(cio_gen_close(g) == 0);

    /* 3. Sending values in (asend). The first call starts the body, which
     * has no pending yield yet: it must send NULL (cio_gen_next does). */
    CHECK(cio_gen_new(NULL, running_total, NULL, &g) == 0);
    CHECK(cio_gen_send(g, V(5), &v) == -EINVAL); /* not started: refused */
    CHECK(cio_gen_next(g, &v) == 0 && U(v) == 0);
    CHECK(cio_gen_send(g, V(5), &v) == 0 && U(v) == 5);
    CHECK(cio_gen_send(g, V(7), &v) == 0 && U(v) == 12);
    CHECK(cio_gen_next(g, &v) == 0 && U(v) == 12); /* NULL sent: adds 0 */
    printf("total: %d\n", (int)U(v));
    CHECK(cio_gen_send(g, (void *)(intptr_t)-1, &v) == -EDOM); /* the body's error */
    CHECK(cio_gen_next(g, &v) == -EDOM); /* a failed generator keeps failing */
    CHECK(cio_gen_close(g) == -EDOM);    /* close returns the body's failure */
    return 0;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) {
        fprintf(stderr, "generator: %s (%s)\n", cio_err_name(rc), cio_strerror(rc));
        return 1;
    }
    return 0;
}
