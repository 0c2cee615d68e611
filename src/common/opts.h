/* Reading the extensible option structs (cio_loop_options,
 * cio_task_options, cio_work_options): every one begins with size_t size,
 * the struct's size as the caller compiled it. */
#ifndef CIO_COMMON_OPTS_H
#define CIO_COMMON_OPTS_H

#include <stddef.h>

/* Copies the caller's options src into dst, which holds the library's
 * defaults and is dst_size bytes (sizeof the struct this library knows).
 * The Linux openat2/clone3 convention, so that both sides may be older:
 * - src NULL: dst keeps the defaults;
 * - src->size 0 (not made with the _INIT macro), smaller than size itself
 *   or not a multiple of the struct's alignment (no version of the struct
 *   has such a size): -EINVAL;
 * - src->size <= dst_size (an older or the same header): the fields it
 *   covers are copied, the others keep their defaults;
 * - src->size > dst_size (a newer header): -E2BIG unless every byte past
 *   dst_size is zero (fields this library does not know, left at their
 *   defaults), in which case the known fields are copied.
 * On an error dst is unchanged. dst->size is dst_size afterwards, so a
 * copy can be passed on to another function taking the same options. */
int cio__opts_copy(void *dst, size_t dst_size, const void *src);

#endif
