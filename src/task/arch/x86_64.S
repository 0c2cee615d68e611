/* The x86-64 (System V) context switch.
 *
 * void cio__ctx_jump(void **from_sp, void *to_sp)
 *
 * Saves the callee-saved registers and the SSE/x87 control words on the
 * current stack, stores the stack pointer in *from_sp, switches to to_sp and
 * restores the same frame from there. Frame, from the stack pointer up:
 * control words, r15, r14, r13, r12, rbx, rbp, return address. A new context's stack is prepared by
 * cio__ctx_init (ctx.c) so that this pop lands in cio__ctx_trampoline. */
    .text
    .globl cio__ctx_jump
    .hidden cio__ctx_jump
    .type cio__ctx_jump,@function
    .p2align 4
cio__ctx_jump:
    .cfi_startproc
    leaq -0x38(%rsp), %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %r15, 0x08(%rsp)
    movq %r14, 0x10(%rsp)
    movq %r13, 0x18(%rsp)
    movq %r12, 0x20(%rsp)
    movq %rbx, 0x28(%rsp)
    movq %rbp, 0x30(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    /* Fetch the return address first so the jump's target is known early.
     * Return with an indirect jump rather than ret: ret would be predicted
     * from the return stack, which holds the other context's address, and
     * mispredict on every switch; the indirect-branch predictor learns the
     * targets (measured on bench/ switch: about 3x faster). */
    movq 0x38(%rsp), %rcx
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    movq 0x08(%rsp), %r15
    movq 0x10(%rsp), %r14
    movq 0x18(%rsp), %r13
    movq 0x20(%rsp), %r12
    movq 0x28(%rsp), %rbx
    movq 0x30(%rsp), %rbp
    leaq 0x40(%rsp), %rsp
    jmp *%rcx
    .cfi_endproc
    .size cio__ctx_jump,.-cio__ctx_jump

/* First code a new context runs: r12 holds the function, r13 its argument.
 * The stack is 16-byte aligned here, as the ABI wants before a call. */
    .globl cio__ctx_trampoline
    .hidden cio__ctx_trampoline
    .type cio__ctx_trampoline,@function
    .p2align 4
cio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size cio__ctx_trampoline,.-cio__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
