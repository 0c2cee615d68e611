/* The seccomp filter of cio-compat (see cio-compat.c): the system calls
 * Linux 5.15/6.1 with vm.overcommit_memory=2 refuse, refused, and pidfd_open
 * and pidfd_send_signal (as kernels before 5.3 and sandboxes that filter
 * them), so that subprocesses are reaped the SIGCHLD way. Shared with
 * tests that install it in a child (tests/task/test_stack_budget.c). */
#ifndef CIO_TESTS_COMPAT_FILTER_H
#define CIO_TESTS_COMPAT_FILTER_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "cio-compat: add this architecture's AUDIT_ARCH"
#endif

#define GUARD_INSTALL 102
#define POPULATE_WRITE 23
#define BIG (256u << 20)

/* seccomp_data.args[i] as two 32-bit words, little-endian. */
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)

#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define JGE(k, t, f) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (t), (f))
#define JSET(k, t, f) BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (k), (t), (f))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define ERR(e) RET(SECCOMP_RET_ERRNO | (e))
#define ALLOW RET(SECCOMP_RET_ALLOW)

static struct sock_filter cio_compat_prog[] = {
    /* 0 */ LD(offsetof(struct seccomp_data, arch)),
    /* 1 */ JEQ(ARCH, 1, 0),
    /* 2 */ ALLOW,
    /* 3 */ LD(offsetof(struct seccomp_data, nr)),
    /* 4 */ JEQ(__NR_membarrier, 0, 1),
    /* 5 */ ERR(ENOSYS),
    /* 6 */ JEQ(__NR_pidfd_open, 0, 1),
    /* 7 */ ERR(ENOSYS),
    /* 8 */ JEQ(__NR_pidfd_send_signal, 0, 1),
    /* 9 */ ERR(ENOSYS),
    /* 10 */ JEQ(__NR_process_madvise, 0, 1),
    /* 11 */ ERR(EINVAL),
    /* 12 */ JEQ(__NR_madvise, 0, 4),
    /* 13 */ LD(ARG_LO(2)),
    /* 14 */ JEQ(GUARD_INSTALL, 1, 0),
    /* 15 */ JEQ(POPULATE_WRITE, 0, 9),
    /* 16 */ ERR(EINVAL),
    /* 17 */ JEQ(__NR_mmap, 0, 7),
    /* 18 */ LD(ARG_LO(3)),
    /* 19 */ JSET(MAP_NORESERVE, 0, 5),
    /* 20 */ LD(ARG_HI(1)),
    /* 21 */ JEQ(0, 0, 2),
    /* 22 */ LD(ARG_LO(1)),
    /* 23 */ JGE(BIG, 0, 1),
    /* 24 */ ERR(ENOMEM),
    /* 25 */ ALLOW,
};

static int cio_compat_install(void)
{
    struct sock_fprog fp = {.len = sizeof cio_compat_prog / sizeof cio_compat_prog[0],
                            .filter = cio_compat_prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("cio-compat: PR_SET_NO_NEW_PRIVS");
        return -1;
    }
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) != 0) {
        perror("cio-compat: seccomp");
        return -1;
    }
    return 0;
}

static int cio_compat_expect(const char *what, long rc, int err)
{
    if (rc != -1 || errno != err) {
        fprintf(stderr, "cio-compat: filter not in force: %s returned %ld (errno %d), want %s\n",
                what, rc, rc == -1 ? errno : 0, strerror(err));
        return -1;
    }
    return 0;
}

/* Each refusal, observed; and the calls around them still work. */
static int cio_compat_check(void)
{
    int bad = 0;
    bad |= cio_compat_expect("membarrier", syscall(__NR_membarrier, 0, 0, 0), ENOSYS);
    bad |= cio_compat_expect("pidfd_open", syscall(__NR_pidfd_open, getpid(), 0), ENOSYS);
    bad |= cio_compat_expect("pidfd_send_signal", syscall(__NR_pidfd_send_signal, -1, 0, NULL, 0),
                             ENOSYS);
    char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("cio-compat: a plain 1 MiB mmap");
        return -1;
    }
    bad |= cio_compat_expect("madvise(MADV_GUARD_INSTALL)", madvise(p, 4096, GUARD_INSTALL), EINVAL);
    bad |= cio_compat_expect("madvise(MADV_POPULATE_WRITE)", madvise(p, 4096, POPULATE_WRITE), EINVAL);
    struct iovec iov = {p, 4096};
    bad |= cio_compat_expect("process_madvise", syscall(__NR_process_madvise, -1, &iov, 1, GUARD_INSTALL, 0),
                  EINVAL);
    void *big = mmap(NULL, 1ul << 30, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    bad |= cio_compat_expect("a 1 GiB MAP_NORESERVE mmap", big == MAP_FAILED ? -1 : 0, ENOMEM);
    if (big != MAP_FAILED)
        munmap(big, 1ul << 30);
    if (madvise(p, 4096, MADV_DONTNEED) != 0) {
        perror("cio-compat: madvise(MADV_DONTNEED) must still work");
        bad = 1;
    }
    void *small = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (small == MAP_FAILED) {
        perror("cio-compat: a 64 MiB MAP_NORESERVE mmap must still work");
        bad = 1;
    } else {
        munmap(small, 64 << 20);
    }
    munmap(p, 1 << 20);
    return bad ? -1 : 0;
}

#endif
