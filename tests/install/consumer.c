/* Built against an installed cio, through pkg-config and find_package. */
#include <cio.h>
#include <stdio.h>
#include <string.h>

static void hello(void *arg) { printf("%s\n", (const char *)arg); }

int main(void)
{
    /* The installed header and library are one version. */
    if (cio_version() != CIO_VERSION || strcmp(cio_version_string(), CIO_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", CIO_VERSION_STRING, cio_version_string());
        return 1;
    }
    cio_loop *loop;
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    cio_call_soon(loop, hello, "installed cio works");
    cio_loop_run_once(loop, CIO_RUN_NOWAIT);
    return cio_loop_free(loop) == 0 ? 0 : 1;
}
