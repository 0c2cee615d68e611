/* Execution contexts: the stack switch under tasks.
 *
 * On x86-64 and aarch64 the switch is hand-written (src/task/arch/): it saves the
 * callee-saved registers and the floating-point control state on the old
 * stack, stores the stack pointer, and loads the new one; no system call
 * (glibc's swapcontext spends most of its time saving the signal mask).
 * Elsewhere, or with -DCIO_CONTEXT=ucontext, it is makecontext/swapcontext,
 * which CI builds and tests too so the fallback stays working. */
#ifndef CIO_TASK_CTX_H
#define CIO_TASK_CTX_H

#include <stddef.h>

#if !defined(CIO_CTX_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define CIO_CTX_UCONTEXT 1
#endif

#ifdef CIO_CTX_UCONTEXT
#include <ucontext.h>
typedef struct cio__ctx {
    ucontext_t uc;
} cio__ctx;
#else
typedef struct cio__ctx {
    void *sp;
} cio__ctx;
#endif

/* Prepares ctx to run fn(arg) on the stack [lo, lo + size) when first
 * switched to. fn must never return: it switches away for the last time. */
void cio__ctx_init(cio__ctx *ctx, void *lo, size_t size, void (*fn)(void *), void *arg);

/* Saves the running context in from and resumes to. */
#ifdef CIO_CTX_UCONTEXT
static inline void cio__ctx_switch(cio__ctx *from, cio__ctx *to) { swapcontext(&from->uc, &to->uc); }
#else
void cio__ctx_jump(void **from_sp, void *to_sp);
static inline void cio__ctx_switch(cio__ctx *from, cio__ctx *to) { cio__ctx_jump(&from->sp, to->sp); }
#endif

/* The stack pointer a switched-out context saved, or NULL where unknown;
 * for the overflow check of stacks without a guard page. */
#ifdef CIO_CTX_UCONTEXT
static inline const void *cio__ctx_saved_sp(const cio__ctx *ctx)
{
#if defined(__x86_64__) && defined(REG_RSP)
    return (const void *)ctx->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (const void *)ctx->uc.uc_mcontext.sp;
#else
    (void)ctx;
    return NULL;
#endif
}
#else
static inline const void *cio__ctx_saved_sp(const cio__ctx *ctx) { return ctx->sp; }
#endif

#endif
