/* cio-test: threaded. cio_strerror and cio_err_name: the C library's
 * texts and names for every errno value, of either sign, never NULL; and
 * the fallback for C libraries without strerrordesc_np, built here from the
 * same source and compared with glibc's answers, also from many threads at
 * once (its tables are built on first use). */
#include <limits.h>
#include <pthread.h>

#include "test.h"

/* The fallback of src/common/error.c, under other names: the library
 * itself is built with CIO_HAVE_STRERRORDESC_NP where glibc has it, and
 * this program is not. */
#undef CIO_HAVE_STRERRORDESC_NP
#define cio_strerror fallback_strerror
#define cio_err_name fallback_err_name
#include "common/error.c"
#undef cio_strerror
#undef cio_err_name
const char *fallback_strerror(int err);
const char *fallback_err_name(int err);

TEST(standard_texts_and_names)
{
    EXPECT_STR_EQ("No such file or directory", cio_strerror(-ENOENT));
    EXPECT_STR_EQ("No such file or directory", cio_strerror(ENOENT));
    EXPECT_STR_EQ("ENOENT", cio_err_name(-ENOENT));
    EXPECT_STR_EQ("ENOENT", cio_err_name(ENOENT));
    EXPECT_STR_EQ("Operation canceled", cio_strerror(-ECANCELED));
    EXPECT_STR_EQ("Connection timed out", cio_strerror(-ETIMEDOUT));
    EXPECT_STR_EQ("Operation not permitted", cio_strerror(-EPERM));
    EXPECT_STR_EQ("Resource deadlock avoided", cio_strerror(-EDEADLK));
    EXPECT_STR_EQ("Device or resource busy", cio_strerror(-EBUSY));
    EXPECT_STR_EQ("ECANCELED", cio_err_name(-ECANCELED));
    EXPECT_STR_EQ("ETIMEDOUT", cio_err_name(-ETIMEDOUT));
    EXPECT_STR_EQ("EINVAL", cio_err_name(-EINVAL));
    EXPECT_STR_EQ("ENODATA", cio_err_name(-ENODATA));
    EXPECT_STR_EQ("EDEADLK", cio_err_name(-EDEADLK));
    /* Two names for one value: the C library's first. */
    EXPECT_STR_EQ("EAGAIN", cio_err_name(-EWOULDBLOCK));
    EXPECT_STR_EQ("EOPNOTSUPP", cio_err_name(-ENOTSUP));
}

TEST(zero_and_unknown_values)
{
    EXPECT_STR_EQ("Success", cio_strerror(0));
    EXPECT_STR_EQ("OK", cio_err_name(0));
    EXPECT_STR_EQ("Unknown error", cio_strerror(-123456));
    EXPECT_STR_EQ("Unknown error", cio_strerror(123456));
    EXPECT_STR_EQ("UNKNOWN", cio_err_name(-123456));
    EXPECT_STR_EQ("Unknown error", cio_strerror(INT_MIN));
    EXPECT_STR_EQ("UNKNOWN", cio_err_name(INT_MIN));
    EXPECT_STR_EQ("Unknown error", cio_strerror(INT_MAX));
    EXPECT_STR_EQ("UNKNOWN", cio_err_name(INT_MAX));
}

/* Every value either sign: never NULL, the same string (static: the same
 * pointer, twice), and glibc's answer where glibc gives one. */
static void check_all(const char *(*text)(int), const char *(*name)(int))
{
    for (int e = -300; e <= 300; e++) {
        const char *t = text(e), *n = name(e);
        if (!t || !n)
            FAIL("NULL for %d", e);
        EXPECT_PTR_EQ(t, text(e));
        EXPECT_PTR_EQ(n, name(e));
        EXPECT_STR_EQ(t, text(-e));
        EXPECT_STR_EQ(n, name(-e));
        int p = e < 0 ? -e : e;
        if (p == 0)
            continue;
        const char *gt = strerrordesc_np(p), *gn = strerrorname_np(p);
        EXPECT_STR_EQ(gt ? gt : "Unknown error", t);
        EXPECT_STR_EQ(gn ? gn : "UNKNOWN", n);
    }
}

TEST(every_value_matches_the_c_library)
{
    check_all(cio_strerror, cio_err_name);
}

TEST(fallback_matches_the_c_library)
{
    check_all(fallback_strerror, fallback_err_name);
    EXPECT_STR_EQ("Success", fallback_strerror(0));
    EXPECT_STR_EQ("OK", fallback_err_name(0));
    EXPECT_STR_EQ("Unknown error", fallback_strerror(INT_MIN));
}

/* The fallback builds its texts on the first call: threads racing to make
 * that call all get the same, complete texts. */
static pthread_barrier_t start;
static void *racer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (int e = 1; e < 140; e++) {
        const char *gt = strerrordesc_np(e);
        if (strcmp(fallback_strerror(-e), gt ? gt : "Unknown error") != 0)
            return (void *)1;
    }
    return NULL;
}

TEST(fallback_first_use_from_many_threads)
{
    enum { N = 8 };
    pthread_t th[N];
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++)
        EXPECT_EQ(0, pthread_create(&th[i], NULL, racer, NULL));
    for (int i = 0; i < N; i++) {
        void *r;
        pthread_join(th[i], &r);
        EXPECT_PTR_EQ(NULL, r);
    }
    pthread_barrier_destroy(&start);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
