/* cio: shared definitions (export macro, error codes).
 *
 * Every cio function that can fail returns 0 (or a non-negative count) on
 * success and a negative errno value on failure. There is no global error
 * state. The codes keep their standard meaning; cio_strerror() and
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
 * function may be called from any thread. */
CIO_API const char *cio_strerror(int err);

/* The symbolic name of an errno value of either sign ("ENOENT" for -ENOENT
 * or ENOENT), "OK" for 0, "UNKNOWN" for a value the C library does not
 * know; where two names share a value, the C library's first one
 * ("EAGAIN", not "EWOULDBLOCK"). Never returns NULL; static; any thread. */
CIO_API const char *cio_err_name(int err);

/* Deallocator for values handed to cio (future results, ...). */
typedef void (*cio_free_fn)(void *value);

/* A plain callback taking the user's argument. */
typedef void (*cio_cb)(void *arg);

#ifdef __cplusplus
}
#endif
#endif
