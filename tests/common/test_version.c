/* The version has one source, the CIO_VERSION_* macros of cio/common.h:
 * the library reports the same, and so does the CMake project, which
 * passes its version in as CIO_TEST_PROJECT_VERSION (tests/CMakeLists.txt).
 * The shared library's soname is checked by tests/common/soname.sh. */
#include "test.h"

#ifndef CIO_TEST_PROJECT_VERSION
#error "tests/CMakeLists.txt passes CIO_TEST_PROJECT_VERSION"
#endif

TEST(header_macros_agree)
{
    EXPECT_EQ(CIO_VERSION_MAJOR * 10000 + CIO_VERSION_MINOR * 100 + CIO_VERSION_PATCH, CIO_VERSION);
    char s[64];
    snprintf(s, sizeof s, "%d.%d.%d", CIO_VERSION_MAJOR, CIO_VERSION_MINOR, CIO_VERSION_PATCH);
    EXPECT_STR_EQ(s, CIO_VERSION_STRING);
    /* The version of this API (docs/api/README.md). */
    EXPECT_EQ(0, CIO_VERSION_MAJOR);
    EXPECT_TRUE(CIO_VERSION >= 200);
}

TEST(library_reports_the_header_version)
{
    EXPECT_EQ(CIO_VERSION, cio_version());
    EXPECT_STR_EQ(CIO_VERSION_STRING, cio_version_string());
}

TEST(cmake_project_version_is_the_header_version)
{
    EXPECT_STR_EQ(CIO_TEST_PROJECT_VERSION, CIO_VERSION_STRING);
    EXPECT_STR_EQ(CIO_TEST_PROJECT_VERSION, cio_version_string());
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
