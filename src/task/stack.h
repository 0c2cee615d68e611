/* Task stacks (stack.c). */
#ifndef CIO_TASK_STACK_H
#define CIO_TASK_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIO__STACK_DEFAULT (256u * 1024)
#define CIO__STACK_MIN (16u * 1024)
#define CIO__STACK_MAX (1u << 30)

/* A stack slot: [guard][usable stack ... | header]. The header sits at the
 * very top of the slot, in the page the task touches first, together with
 * whatever the owner keeps there (the task itself: cio__stack_extra).
 * guarded: the guard is a real guard page. Otherwise (past the mapping
 * budget of old kernels, see stack.c) the slot below is an unused gap and
 * the last CIO__STACK_CANARY bytes of the guard area, just below lo, must
 * read as zero: the owner calls cio__stack_check at every switch-out. */
struct cio__stack {
    char *lo;          /* lowest usable address, just above the guard */
    size_t usable;     /* bytes from lo up to this header */
    size_t slot_size;  /* the whole slot, guard included */
    struct cio__stack *next_free;
    const char *(*describe)(void *owner); /* names the owner for the overflow report */
    void *owner;
    unsigned valgrind_id;
    bool guarded;
};

/* A stack in a slot of `size` bytes rounded up to a power of two (guard
 * page, header and `extra` included), with `extra` bytes reserved next to
 * the header for the caller (returned in *extra_out, 64-byte aligned).
 * NULL on ENOMEM or a size over CIO__STACK_MAX. */
struct cio__stack *cio__stack_get(size_t size, size_t extra, void **extra_out);
void cio__stack_put(struct cio__stack *s);

#define CIO__STACK_CANARY 512

/* For a stack without a guard page, after its owner switched out with its
 * stack pointer saved at saved_sp (NULL: unknown): dies with "cio: stack
 * overflow in task '<name>'" if the stack pointer is below the stack or the
 * bytes below it were written. */
void cio__stack_check_slow(struct cio__stack *s, const void *saved_sp);

/* Tests only: behave as on a kernel without MADV_GUARD_INSTALL, with room
 * for `mappings` more mappings of guard pages (each guard takes two). */
void cio__stack_test_guard_budget(long mappings);

/* The stack running on this thread (set by the task layer), for reports. */
extern __thread struct cio__stack *cio__stack_running;

/* Installs this thread's alternate signal stack (once per thread), so a
 * stack overflow can be reported. */
extern __thread bool cio__altstack_done;
void cio__stack_thread_init_slow(void);
static inline void cio__stack_thread_init(void)
{
    if (__builtin_expect(!cio__altstack_done, 0))
        cio__stack_thread_init_slow();
}

#endif
