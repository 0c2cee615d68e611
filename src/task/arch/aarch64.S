/* The aarch64 (AAPCS64) context switch.
 *
 * void cio__ctx_jump(void **from_sp, void *to_sp)
 *
 * Saves x19-x30, d8-d15 and FPCR on the current stack (112 + 64 + 16
 * bytes), stores sp in *from_sp, loads to_sp and restores the same frame;
 * returns through the restored x30. cio__ctx_init (ctx.c) builds a first
 * frame whose x30 is cio__ctx_trampoline. */
    .text
    .globl cio__ctx_jump
    .hidden cio__ctx_jump
    .type cio__ctx_jump,%function
    .p2align 4
cio__ctx_jump:
    sub sp, sp, #192
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #192
    ret
    .size cio__ctx_jump,.-cio__ctx_jump

/* First code a new context runs: x19 holds the function, x20 its argument. */
    .globl cio__ctx_trampoline
    .hidden cio__ctx_trampoline
    .type cio__ctx_trampoline,%function
    .p2align 4
cio__ctx_trampoline:
    mov x0, x20
    blr x19
    brk #0
    .size cio__ctx_trampoline,.-cio__ctx_trampoline

    .section .note.GNU-stack,"",%progbits
