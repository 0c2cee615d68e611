/* generator.c: an async generator (Python's `async def` with `yield`).
 * The generator runs on its own stack and may suspend between yields
 * (here a sleep, in real code a read); the consumer pulls values with
 * cio_gen_next until -ENODATA, the end of an iteration. A consumer that
 * stops early closes the generator: its pending yield returns -ECANCELED,
 * so its cleanup runs. Coroutine style. */
#include <stdint.h>
#include <stdio.h>

#include <cio.h>

/* Yields 1, 2, ... up to *arg (forever if 0), one every 10 ms. */
static int ticks(cio_gen *gen, void *arg)
{
    intptr_t last = *(const intptr_t *)arg;
    int err = 0;
    for (intptr_t n = 1; err == 0 && (last == 0 || n <= last); n++) {
        err = cio_sleep(0.01);
        if (err == 0)
            err = cio_gen_yield(gen, (void *)n, NULL); /* suspends until asked again */
    }
    printf("  ticks: %s\n", err == -ECANCELED ? "closed early, cleaning up" : "finished");
    return err == -ECANCELED ? 0 : err; /* being closed is not a failure */
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static const intptr_t three = 3, forever = 0;
    cio_gen *gen;
    void *value;
    int err;

    printf("to the end:\n");
    if ((err = cio_gen_new(NULL, ticks, (void *)&three, &gen)) != 0)
        return err;
    while ((err = cio_gen_next(gen, &value)) == 0)
        printf("  got %d\n", (int)(intptr_t)value);
    printf("  next: %s\n", cio_err_name(err)); /* ENODATA: it returned */
    int cerr = cio_gen_close(gen);              /* frees it */
    if (err != -ENODATA || cerr != 0)
        return err != -ENODATA ? err : cerr;

    printf("stopping early:\n");
    if ((err = cio_gen_new(NULL, ticks, (void *)&forever, &gen)) != 0)
        return err;
    for (int i = 0; i < 2 && (err = cio_gen_next(gen, &value)) == 0; i++)
        printf("  got %d\n", (int)(intptr_t)value);
    cerr = cio_gen_close(gen); /* the pending yield returns -ECANCELED */
    printf("  close: %d\n", cerr);
    return err ? err : cerr;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
