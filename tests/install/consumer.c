/* Built against an installed cio, through pkg-config and find_package. */
#include <cio.h>
#include <stdio.h>

static void hello(void *arg) { printf("%s\n", (const char *)arg); }

int main(void)
{
    cio_loop *loop;
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    cio_call_soon(loop, hello, "installed cio works");
    cio_loop_run_once(loop, CIO_RUN_NOWAIT);
    return cio_loop_free(loop) == 0 ? 0 : 1;
}
