/* One table (CIO_ERRNO_MAP in cio/common.h) names every error cio produces;
 * anything else falls back to the C library's text. */
#include <string.h>

#include <cio/common.h>

const char *cio_strerror(int err)
{
    if (err == 0)
        return "success";
    int e = err < 0 ? -err : err;
    switch (e) {
#define CIO_STR_CASE(name, msg)                                                                   \
    case name:                                                                                    \
        return msg;
        CIO_ERRNO_MAP(CIO_STR_CASE)
#undef CIO_STR_CASE
    default:
        /* strerror's buffer may be overwritten by another thread; the GNU
         * strerrordesc_np returns a static string instead. */
        {
            const char *s = strerrordesc_np(e);
            return s ? s : "unknown error";
        }
    }
}

const char *cio_err_name(int err)
{
    if (err == 0)
        return "OK";
    int e = err < 0 ? -err : err;
    switch (e) {
#define CIO_NAME_CASE(name, msg)                                                                  \
    case name:                                                                                    \
        return #name;
        CIO_ERRNO_MAP(CIO_NAME_CASE)
#undef CIO_NAME_CASE
    default: {
        const char *s = strerrorname_np(e);
        return s ? s : "UNKNOWN";
    }
    }
}
