/* version.c: the header's version (macros, fixed when you compile) and the
 * library's (functions, what runs). A 0.x library keeps its ABI only within
 * one minor version, so a program can check that it runs against the minor
 * it was built for.
 * Reference: docs/api/common.md. */
#include <stdio.h>
#include <string.h>

#include <cio.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

int main(void)
{
    printf("built with cio %s (%d), running cio %s (%d)\n", CIO_VERSION_STRING, CIO_VERSION,
           cio_version_string(), cio_version());
    CHECK(CIO_VERSION == CIO_VERSION_MAJOR * 10000 + CIO_VERSION_MINOR * 100 + CIO_VERSION_PATCH);
    CHECK(cio_version_string() != NULL);
    /* Same major and minor: the ABI this program was compiled for. */
    if (cio_version() / 100 != CIO_VERSION / 100) {
        fprintf(stderr, "cio %s is not ABI-compatible with %s\n", cio_version_string(),
                CIO_VERSION_STRING);
        return 1;
    }
    return 0;
}
