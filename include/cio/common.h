/* cio: shared definitions (export macro, error codes, versions).
 *
 * Every cio function that can fail returns 0 (or a non-negative count) on
 * success and a negative errno value on failure. There is no global error
 * state. cio_strerror() and cio_err_name() describe any such value. */
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

/* The errors cio itself produces, beside any errno a system call returns.
 * One table (CIO_ERRNO_MAP) names them all; cio_strerror() and
 * cio_err_name() are generated from it. */
#define CIO_ERRNO_MAP(X)                                                       \
    X(EPERM, "operation not permitted here (suspending call outside a task, " \
             "or wrong thread)")                                               \
    X(ENOENT, "no such handle (already fired, cancelled or removed)")          \
    X(EINTR, "interrupted (loop stopped before the future completed)")        \
    X(EBADF, "bad file descriptor")                                            \
    X(EAGAIN, "resource temporarily unavailable (not done yet)")               \
    X(ENOMEM, "out of memory")                                                 \
    X(EBUSY, "busy: something is still live")                                  \
    X(EEXIST, "already exists")                                                \
    X(EINVAL, "invalid argument or state")                                     \
    X(ENOSPC, "no space left")                                                 \
    X(ENOSYS, "not supported by this backend or platform")                     \
    X(EALREADY, "operation already in progress")                               \
    X(ECANCELED, "operation cancelled")                                        \
    X(ETIMEDOUT, "timed out")                                                  \
    X(EDEADLK, "would deadlock (a wait on the loop's own thread)")             \
    X(ECONNRESET, "connection reset by peer")                                  \
    X(EPIPE, "broken pipe (or a broken barrier)")                              \
    X(ESHUTDOWN, "shut down (a queue after cio_queue_shutdown)")               \
    X(EIO, "input/output error")

/* A human-readable message for a cio error (negative errno). Accepts a
 * positive errno too. Never returns NULL; the string is static. */
CIO_API const char *cio_strerror(int err);

/* The symbolic name of an error ("ECANCELED"), or "UNKNOWN". Static. */
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
 * program was compiled with when it links the shared library. Never fails. */
CIO_API int cio_version(void);
/* The same as a string ("0.2.0"), static. Never NULL. */
CIO_API const char *cio_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
