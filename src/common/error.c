/* Error texts and names: the C library's, for every errno value.
 *
 * cio's errors are plain errno values, so they read as the C library reads
 * them: -ENOENT is "No such file or directory" whether cio or open(2)
 * returned it. What a code means in a particular call is in that call's
 * documentation, and in the reports that call makes; a text made up here
 * would be right for one call and wrong for a user's own use of the code.
 *
 * Both functions must return static strings from any thread. strerror's
 * buffer is not that, nor is strerror_r's (the caller's buffer). glibc 2.32
 * added strerrordesc_np and strerrorname_np, which are; the build checks
 * for them (CIO_HAVE_STRERRORDESC_NP) and otherwise the fallback below
 * builds the same answers once, from Linux's list of names and the C
 * library's texts in the "C" locale (strerrordesc_np's texts are the
 * untranslated ones too). */
#include <limits.h>
#include <string.h>

#include <cio/common.h>

#ifndef CIO_HAVE_STRERRORDESC_NP
#include <locale.h>
#include <pthread.h>

/* Linux's errno names, in number order; where two names share a number
 * (EWOULDBLOCK, EDEADLOCK, ENOTSUP), the one glibc's strerrorname_np gives
 * is the one listed. The newest two are guarded for old kernel headers. */
#define ERRNO_NAMES(X)                                                                            \
    X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF) X(ECHILD)  \
    X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(ENOTBLK) X(EBUSY) X(EEXIST) X(EXDEV) X(ENODEV)      \
    X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY) X(ETXTBSY) X(EFBIG) X(ENOSPC)    \
    X(ESPIPE) X(EROFS) X(EMLINK) X(EPIPE) X(EDOM) X(ERANGE) X(EDEADLK) X(ENAMETOOLONG)            \
    X(ENOLCK) X(ENOSYS) X(ENOTEMPTY) X(ELOOP) X(ENOMSG) X(EIDRM) X(ECHRNG) X(EL2NSYNC)            \
    X(EL3HLT) X(EL3RST) X(ELNRNG) X(EUNATCH) X(ENOCSI) X(EL2HLT) X(EBADE) X(EBADR) X(EXFULL)      \
    X(ENOANO) X(EBADRQC) X(EBADSLT) X(EBFONT) X(ENOSTR) X(ENODATA) X(ETIME) X(ENOSR) X(ENONET)    \
    X(ENOPKG) X(EREMOTE) X(ENOLINK) X(EADV) X(ESRMNT) X(ECOMM) X(EPROTO) X(EMULTIHOP)             \
    X(EDOTDOT) X(EBADMSG) X(EOVERFLOW) X(ENOTUNIQ) X(EBADFD) X(EREMCHG) X(ELIBACC) X(ELIBBAD)     \
    X(ELIBSCN) X(ELIBMAX) X(ELIBEXEC) X(EILSEQ) X(ERESTART) X(ESTRPIPE) X(EUSERS) X(ENOTSOCK)     \
    X(EDESTADDRREQ) X(EMSGSIZE) X(EPROTOTYPE) X(ENOPROTOOPT) X(EPROTONOSUPPORT)                   \
    X(ESOCKTNOSUPPORT) X(EOPNOTSUPP) X(EPFNOSUPPORT) X(EAFNOSUPPORT) X(EADDRINUSE)               \
    X(EADDRNOTAVAIL) X(ENETDOWN) X(ENETUNREACH) X(ENETRESET) X(ECONNABORTED) X(ECONNRESET)        \
    X(ENOBUFS) X(EISCONN) X(ENOTCONN) X(ESHUTDOWN) X(ETOOMANYREFS) X(ETIMEDOUT) X(ECONNREFUSED)   \
    X(EHOSTDOWN) X(EHOSTUNREACH) X(EALREADY) X(EINPROGRESS) X(ESTALE) X(EUCLEAN) X(ENOTNAM)       \
    X(ENAVAIL) X(EISNAM) X(EREMOTEIO) X(EDQUOT) X(ENOMEDIUM) X(EMEDIUMTYPE) X(ECANCELED)          \
    X(ENOKEY) X(EKEYEXPIRED) X(EKEYREVOKED) X(EKEYREJECTED) X(EOWNERDEAD) X(ENOTRECOVERABLE)

static const struct {
    int value;
    const char *name;
} names[] = {
#define NAME_ENTRY(e) {e, #e},
    ERRNO_NAMES(NAME_ENTRY)
#undef NAME_ENTRY
#ifdef ERFKILL
    {ERFKILL, "ERFKILL"},
#endif
#ifdef EHWPOISON
    {EHWPOISON, "EHWPOISON"},
#endif
};
#define NNAMES (sizeof names / sizeof names[0])

/* The texts, copied once into one static pool: strerror_l's answer lives
 * only until the thread's next call. 8 KB holds glibc's (3.1 KB) and
 * musl's with room to spare; a text that does not fit reads as unknown
 * rather than cut. */
static const char *texts[NNAMES];
static char pool[8192];
static pthread_once_t texts_once = PTHREAD_ONCE_INIT;

static void texts_init(void)
{
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!c)
        return; /* every text then reads "Unknown error" */
    size_t used = 0;
    for (size_t i = 0; i < NNAMES; i++) {
        const char *s = strerror_l(names[i].value, c);
        size_t n = s ? strlen(s) + 1 : 0;
        if (n && used + n <= sizeof pool) {
            memcpy(pool + used, s, n);
            texts[i] = pool + used;
            used += n;
        }
    }
    freelocale(c);
}

static int name_index(int e)
{
    for (size_t i = 0; i < NNAMES; i++)
        if (names[i].value == e)
            return (int)i;
    return -1;
}

static const char *errno_text(int e)
{
    int i = name_index(e);
    if (i < 0)
        return NULL;
    pthread_once(&texts_once, texts_init);
    return texts[i];
}

static const char *errno_name(int e)
{
    int i = name_index(e);
    return i < 0 ? NULL : names[i].name;
}
#else
static const char *errno_text(int e) { return strerrordesc_np(e); }
static const char *errno_name(int e) { return strerrorname_np(e); }
#endif

/* err of either sign as a positive errno, or -1 for INT_MIN (whose
 * negation does not exist). */
static int positive(int err)
{
    if (err == INT_MIN)
        return -1;
    return err < 0 ? -err : err;
}

const char *cio_strerror(int err)
{
    if (err == 0)
        return "Success";
    const char *s = errno_text(positive(err));
    return s ? s : "Unknown error";
}

const char *cio_err_name(int err)
{
    if (err == 0)
        return "OK";
    const char *s = errno_name(positive(err));
    return s ? s : "UNKNOWN";
}
