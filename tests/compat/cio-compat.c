/* cio-compat: runs a command as if on the kernels most users deploy on
 * (Linux 5.15, Ubuntu 22.04; 6.1, Debian 12) with vm.overcommit_memory=2,
 * so that every fallback path of cio is taken (`make compat` runs the whole
 * suite under it).
 *
 * It installs a seccomp-BPF filter, inherited across fork and exec, that
 * refuses the calls those systems refuse:
 *   - membarrier                                   -> ENOSYS (kernels built without it)
 *   - process_madvise                              -> EINVAL (5.15/6.1 reject the advices cio uses)
 *   - madvise(MADV_GUARD_INSTALL), (MADV_POPULATE_WRITE) -> EINVAL (6.13+ and 5.14+ only;
 *     POPULATE_WRITE is refused too so that nothing comes to depend on it)
 *   - mmap with MAP_NORESERVE of 256 MiB or more   -> ENOMEM (what overcommit_memory=2
 *     does to cio's 1 GiB stack regions on a machine of modest memory)
 * vm.max_map_count is not filtered: the default (65530) is what users have,
 * and the machine's own value is what cio reads.
 *
 * Before running the command it checks that each refusal is in force, so a
 * CI run cannot silently go without the filter.
 *
 * usage: cio-compat --check          install the filter, check it, exit 0
 *        cio-compat command [args]   install, check, exec command */
#define _GNU_SOURCE
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

static struct sock_filter prog[] = {
    /* 0 */ LD(offsetof(struct seccomp_data, arch)),
    /* 1 */ JEQ(ARCH, 1, 0),
    /* 2 */ ALLOW,
    /* 3 */ LD(offsetof(struct seccomp_data, nr)),
    /* 4 */ JEQ(__NR_membarrier, 0, 1),
    /* 5 */ ERR(ENOSYS),
    /* 6 */ JEQ(__NR_process_madvise, 0, 1),
    /* 7 */ ERR(EINVAL),
    /* 8 */ JEQ(__NR_madvise, 0, 4),
    /* 9 */ LD(ARG_LO(2)),
    /* 10 */ JEQ(GUARD_INSTALL, 1, 0),
    /* 11 */ JEQ(POPULATE_WRITE, 0, 9),
    /* 12 */ ERR(EINVAL),
    /* 13 */ JEQ(__NR_mmap, 0, 7),
    /* 14 */ LD(ARG_LO(3)),
    /* 15 */ JSET(MAP_NORESERVE, 0, 5),
    /* 16 */ LD(ARG_HI(1)),
    /* 17 */ JEQ(0, 0, 2),
    /* 18 */ LD(ARG_LO(1)),
    /* 19 */ JGE(BIG, 0, 1),
    /* 20 */ ERR(ENOMEM),
    /* 21 */ ALLOW,
};

static int install(void)
{
    struct sock_fprog fp = {.len = sizeof prog / sizeof prog[0], .filter = prog};
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

static int expect(const char *what, long rc, int err)
{
    if (rc != -1 || errno != err) {
        fprintf(stderr, "cio-compat: filter not in force: %s returned %ld (errno %d), want %s\n",
                what, rc, rc == -1 ? errno : 0, strerror(err));
        return -1;
    }
    return 0;
}

/* Each refusal, observed; and the calls around them still work. */
static int check(void)
{
    int bad = 0;
    bad |= expect("membarrier", syscall(__NR_membarrier, 0, 0, 0), ENOSYS);
    char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("cio-compat: a plain 1 MiB mmap");
        return -1;
    }
    bad |= expect("madvise(MADV_GUARD_INSTALL)", madvise(p, 4096, GUARD_INSTALL), EINVAL);
    bad |= expect("madvise(MADV_POPULATE_WRITE)", madvise(p, 4096, POPULATE_WRITE), EINVAL);
    struct iovec iov = {p, 4096};
    bad |= expect("process_madvise", syscall(__NR_process_madvise, -1, &iov, 1, GUARD_INSTALL, 0),
                  EINVAL);
    void *big = mmap(NULL, 1ul << 30, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    bad |= expect("a 1 GiB MAP_NORESERVE mmap", big == MAP_FAILED ? -1 : 0, ENOMEM);
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cio-compat --check | command [args...]\n");
        return 2;
    }
    if (install() != 0 || check() != 0)
        return 1;
    if (strcmp(argv[1], "--check") == 0) {
        printf("cio-compat: filter in force (membarrier, process_madvise, MADV_GUARD_INSTALL, "
               "MADV_POPULATE_WRITE, big MAP_NORESERVE mappings refused)\n");
        return 0;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "cio-compat: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
