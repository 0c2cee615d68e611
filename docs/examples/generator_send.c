/* generator_send.c: sending values into a generator (asyncio's asend).
 * A running average: the consumer sends each number in with
 * cio_gen_send, and the generator's cio_gen_yield hands back the average
 * so far while it receives the next number. The first call starts the
 * body, which has no yield waiting for a value yet: it is cio_gen_next
 * (sending in anything then is -EINVAL, as asyncio's TypeError).
 * Coroutine style. */
#include <stdio.h>

#include <cio.h>

static int averager(cio_gen *gen, void *arg)
{
    (void)arg;
    double sum = 0, average = 0;
    int count = 0;
    for (;;) {
        void *sent;
        int err = cio_gen_yield(gen, count ? &average : NULL, &sent);
        if (err)
            return err == -ECANCELED ? 0 : err; /* closed: nothing to clean up */
        sum += *(const double *)sent;           /* the consumer's number */
        average = sum / ++count;
    }
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static double numbers[4] = {10, 20, 60, 10};
    cio_gen *gen;
    void *value;
    int err = cio_gen_new(NULL, averager, NULL, &gen);
    if (err)
        return err;
    err = cio_gen_send(gen, &numbers[0], &value); /* not started yet */
    printf("send before the start: %s\n", cio_err_name(err));
    err = cio_gen_next(gen, &value); /* starts it: runs to its first yield */
    for (int i = 0; i < 4 && err == 0; i++) {
        err = cio_gen_send(gen, &numbers[i], &value);
        if (err == 0)
            printf("sent %g, average %g\n", numbers[i], *(const double *)value);
    }
    int cerr = cio_gen_close(gen);
    return err ? err : cerr;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
