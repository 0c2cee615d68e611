/* The x86-64 (System V) context switch.
 *
 * void cio__ctx_jump(void **from_sp, void *to_sp)
 *
 * Pushes the callee-saved registers and the SSE/x87 control words on the
 * current stack, stores the stack pointer in *from_sp, switches to to_sp and
 * pops the same frame from there. A new context's stack is prepared by
 * cio__ctx_init (ctx.c) so that this pop lands in cio__ctx_trampoline. */
    .text
    .globl cio__ctx_jump
    .hidden cio__ctx_jump
    .type cio__ctx_jump,@function
    .p2align 4
cio__ctx_jump:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
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
