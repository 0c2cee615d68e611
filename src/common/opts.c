#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "opts.h"

int cio__opts_copy(void *dst, size_t dst_size, const void *src)
{
    if (!src)
        return 0;
    /* The size is read with memcpy: an older caller's struct may be
     * smaller than ours, so no member of ours beyond size may be read. */
    size_t size;
    memcpy(&size, src, sizeof size);
    /* Every options struct begins with a size_t, so its alignment, and
     * with it its size, is a multiple of size_t's: a size that is not cuts
     * a field in two, and is an uninitialised or corrupt struct. */
    if (size < sizeof(size_t) || size % alignof(size_t) != 0)
        return -EINVAL;
    if (size > dst_size) {
        const unsigned char *tail = (const unsigned char *)src + dst_size;
        for (size_t i = 0; i < size - dst_size; i++)
            if (tail[i])
                return -E2BIG;
        size = dst_size;
    }
    memcpy(dst, src, size);
    memcpy(dst, &dst_size, sizeof dst_size);
    return 0;
}
