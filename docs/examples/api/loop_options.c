/* loop_options.c: options structs carry their own size, so a program
 * compiled against an older header keeps working with a newer library.
 * Make them with the _INIT macro or the compound-literal form.
 * Reference: docs/api/loop.md. */
#include <stdio.h>
#include <string.h>

#include <cio.h>

/* Prints what failed and how; main returns its value. */
static int fail(const char *what, int err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, cio_err_name(err), cio_strerror(err));
    return 1;
}
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

int main(void)
{
    cio_loop *loop;
    int rc;
    /* In place: every field not named keeps its default. */
    if ((rc = cio_loop_new(&CIO_LOOP_OPTIONS(.backend = "poll"), &loop)) != 0)
        return fail("cio_loop_new", rc);
    CHECK(strcmp(cio_loop_backend(loop), "poll") == 0);
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);

    /* As a variable, filled in field by field. */
    cio_loop_options opts = CIO_LOOP_OPTIONS_INIT;
    opts.debug = 1;
    opts.slow_callback_duration = 0.05;
    if ((rc = cio_loop_new(&opts, &loop)) != 0)
        return fail("cio_loop_new", rc);
    CHECK(cio_loop_is_debug(loop));
    printf("backend %s, debug mode %s\n", cio_loop_backend(loop),
           cio_loop_is_debug(loop) ? "on" : "off");
    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);

    /* A struct made without the macro has size 0: refused. */
    cio_loop_options zero;
    memset(&zero, 0, sizeof zero);
    CHECK(cio_loop_new(&zero, &loop) == -EINVAL && loop == NULL);
    return 0;
}
