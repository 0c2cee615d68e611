/* The library's version: the header's, as this library was built. A
 * program linked to the shared library may have been compiled with another
 * header; these say which library it got. */
#include <cio/common.h>

int cio_version(void)
{
    return CIO_VERSION;
}

const char *cio_version_string(void)
{
    return CIO_VERSION_STRING;
}
