/* Preparing a context's first frame (the switch itself is in arch/). */
#include <stdint.h>
#include <string.h>

#include "ctx.h"

#ifdef CIO_CTX_UCONTEXT

/* makecontext passes int arguments only: split the pointers in halves. */
static void uc_entry(unsigned fn_hi, unsigned fn_lo, unsigned arg_hi, unsigned arg_lo)
{
    uintptr_t f = ((uintptr_t)fn_hi << 32) | fn_lo, a = ((uintptr_t)arg_hi << 32) | arg_lo;
    void (*fn)(void *) = (void (*)(void *))f;
    fn((void *)a);
}

void cio__ctx_init(cio__ctx *ctx, void *lo, size_t size, void (*fn)(void *), void *arg)
{
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    uintptr_t f = (uintptr_t)fn, a = (uintptr_t)arg;
    makecontext(&ctx->uc, (void (*)(void))uc_entry, 4, (unsigned)(f >> 32), (unsigned)f,
                (unsigned)(a >> 32), (unsigned)a);
}

#elif defined(__x86_64__)

void cio__ctx_trampoline(void);

void cio__ctx_init(cio__ctx *ctx, void *lo, size_t size, void (*fn)(void *), void *arg)
{
    /* The frame cio__ctx_jump pops, from low to high addresses:
     *   control words, r15, r14, r13, r12, rbx, rbp, return address;
     * the return address is the trampoline, entered with rsp 16-aligned. */
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top - 8; /* 8 slots, keeps the alignment */
    /* A new context starts with the ABI's default control state (SSE: all
     * exceptions masked, round to nearest; x87: extended precision), as a
     * new thread does. Reading the current one costs more than the rest. */
    uint32_t csr[2] = {0x1F80, 0x037F};
    memcpy(&sp[0], csr, 8);
    sp[1] = 0;              /* r15 */
    sp[2] = 0;              /* r14 */
    sp[3] = (uintptr_t)arg; /* r13 */
    sp[4] = (uintptr_t)fn;  /* r12 */
    sp[5] = 0;              /* rbx */
    sp[6] = 0;              /* rbp: ends frame-pointer walks */
    sp[7] = (uintptr_t)cio__ctx_trampoline;
    ctx->sp = sp;
}

#elif defined(__aarch64__)

void cio__ctx_trampoline(void);

void cio__ctx_init(cio__ctx *ctx, void *lo, size_t size, void (*fn)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 192);
    memset(sp, 0, 192);
    sp[0] = (uintptr_t)fn;  /* x19 */
    sp[1] = (uintptr_t)arg; /* x20 */
    sp[10] = 0;             /* x29: ends frame-pointer walks */
    sp[11] = (uintptr_t)cio__ctx_trampoline; /* x30 */
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    sp[20] = fpcr;
    ctx->sp = sp;
}

#endif
