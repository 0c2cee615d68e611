/* Which sanitizer the library is built with, and the fiber interfaces of
 * ASan and TSan (declared here rather than through their headers, which
 * not every toolchain ships). */
#ifndef CIO_TASK_SANITIZERS_H
#define CIO_TASK_SANITIZERS_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define CIO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CIO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CIO_TSAN 1
#endif
#endif

#ifdef CIO_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif
#ifdef CIO_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#endif
