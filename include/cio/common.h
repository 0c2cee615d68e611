/* cio: shared definitions (export macro, error codes, versions).
 *
 * Every cio function that returns int returns 0 on success and a negative
 * errno value on failure; the only two that return a positive value say so
 * (cio_version, cio_loop_run_once). Counts are size_t. There is no global
 * error state. The codes keep their standard meaning; cio_strerror() and
 * cio_err_name() give the C library's text and name for any of them. */
#ifndef CIO_COMMON_H
#define CIO_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#if defined(CIO_STATIC_DEFINE)
#define CIO_API
#elif defined(CIO_BUILDING)
#define CIO_API __attribute__((visibility("default")))
#else
#define CIO_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The standard C library text for an errno value of either sign:
 * "No such file or directory" for -ENOENT or ENOENT, "Success" for 0,
 * "Unknown error" for a value the C library does not know. The texts are
 * the untranslated ones, whatever the locale. What a code means in a
 * particular cio call is in that call's comment, not in this text. Never
 * returns NULL; the string is static (never freed or overwritten), and the
 * function may be called from any thread. Does not suspend. */
CIO_API const char *cio_strerror(int err);

/* The symbolic name of an errno value of either sign ("ENOENT" for -ENOENT
 * or ENOENT), "OK" for 0, "UNKNOWN" for a value the C library does not
 * know; where two names share a value, the C library's first one
 * ("EAGAIN", not "EWOULDBLOCK"). Never returns NULL; static; any thread.
 * Does not suspend. */
CIO_API const char *cio_err_name(int err);

/* Deallocator for values handed to cio (future results, ...). */
typedef void (*cio_free_fn)(void *value);

/* A plain callback taking the user's argument. */
typedef void (*cio_cb)(void *arg);

/* ---- Versions ---------------------------------------------------------------
 * The version of this header. cio follows semantic versioning; while the
 * major version is 0, every minor version may change the ABI, and the
 * shared library's soname says which: libcio.so.0.<minor> (libcio.so.<major>
 * from 1.0). CMakeLists.txt reads the project's version from these lines. */
#define CIO_VERSION_MAJOR 0
#define CIO_VERSION_MINOR 2
#define CIO_VERSION_PATCH 0
/* One integer for comparisons: #if CIO_VERSION >= 200 (0.2.0). */
#define CIO_VERSION (CIO_VERSION_MAJOR * 10000 + CIO_VERSION_MINOR * 100 + CIO_VERSION_PATCH)
#define CIO_VERSION_STRING "0.2.0"

/* The version of the library the program runs with (CIO_VERSION of the
 * headers it was built from), which may differ from the header's the
 * program was compiled with when it links the shared library. Never fails;
 * does not suspend. */
CIO_API int cio_version(void);
/* The same as a string ("0.2.0"), static. Never NULL; does not suspend. */
CIO_API const char *cio_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
