/* Task stacks, designed for a million tasks.
 *
 * vm.max_map_count is 65530 by default, and a guard page made with mprotect
 * splits its mapping in two: one mapping or one mprotect guard per stack
 * cannot reach a million tasks. So stacks are carved from large regions
 * (one mmap each, MAP_NORESERVE, memory committed only when touched), and
 * each slot's guard is installed with madvise(MADV_GUARD_INSTALL) (Linux
 * 6.13+), which marks page-table entries without splitting the mapping: a
 * million guarded stacks cost a few hundred mappings.
 *
 * Older kernels (Debian 12's 6.1, Ubuntu 22.04's 5.15) refuse that advice,
 * and process_madvise with it. There the guards are made with mprotect,
 * two mappings each, within a budget read from vm.max_map_count and the
 * mappings already in use, leaving a quarter of the limit (at least 4096)
 * to the rest of the program: thread stacks, malloc's large blocks, files.
 * Guards take three quarters of that budget, the regions of gap mode
 * (below) the rest.
 * Past the budget a stack gets no guard page but "gap" protection, the same
 * in every build, and stderr says so once:
 *   - the slot below it is left unused (address space only, never
 *     touched), so an overflow of less than a slot and a guard lands in no
 *     other task's memory;
 *   - when the task switches out (suspends or ends), the scheduler checks
 *     its saved stack pointer against the stack's bottom and the 512 bytes
 *     just below the bottom, which only an overflow writes (they are read
 *     as zero), and aborts naming the task before any other task runs;
 *   - a fault while such a stack is running, with the stack pointer below
 *     its bottom or those 512 bytes written, is reported the same way; and
 *     each region in gap mode has a guard at its base (one mapping), so an
 *     overflow running through the gaps faults at the latest there.
 * What it cannot see: an overflow that writes only zeros, or jumps over
 * those 512 bytes with one large frame, and returns before the task
 * switches out; within the gap that corrupts nothing. Page-guarded tasks
 * pay nothing at the switch (the task layer tests one flag).
 *
 * Where 1 GiB regions cannot be mapped (vm.overcommit_memory=2 counts
 * MAP_NORESERVE mappings in full), smaller ones are used, down to one slot.
 * MADV_POPULATE_WRITE is an optimisation only: without it the pages fault
 * in on first touch.
 *
 * A slot is a power of two (16 KiB to 1 GiB) holding, from the bottom: the
 * guard page, the stack, and at the very top the stack header and the
 * owner's data (the task). The task therefore lives in the page its stack
 * touches first: an idle task costs one page of RSS, not a page plus a heap
 * block. Freed stacks are kept per size class and reused hot (256 per
 * thread without a lock, 4096 more per class behind one), so spawning and
 * reaping in bursts costs no page fault and no system call; past that,
 * their memory is returned to the kernel (the guard survives
 * MADV_DONTNEED). A thread's own cache goes back to the shared pool when
 * the thread exits, and its alternate signal stack is freed.
 *
 * Overflow: a SIGSEGV handler on an alternate signal stack looks the fault
 * address up in the regions; a hit in a guard page is a stack overflow and
 * the process dies with "cio: stack overflow in task '<name>'". Any other
 * fault goes to the handler that was installed before (with its mask and
 * flags), or gets the default action. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "stack.h"

#define CIO_LIKELY(x) __builtin_expect(!!(x), 1)
#define CIO_UNLIKELY(x) __builtin_expect(!!(x), 0)

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CIO_HAVE_VALGRIND 1
#endif
#endif

#include "sanitizers.h"

#define NCLASSES 17          /* 16 KiB << 0..16 */
#define REGION_BYTES (1ull << 30)
#define MAX_REGIONS 65536
#define HOT_PER_CLASS 4096   /* freed stacks kept with their memory */

struct region {
    uintptr_t base;
    size_t size;
    size_t slot_size;
};

static struct region regions[MAX_REGIONS];
static _Atomic size_t nregions;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct region *cur; /* carving from here */
    size_t next_slot;
    size_t prepared; /* slots below this have their guard already */
    struct cio__stack *hot, *cold; /* free stacks: with memory, without */
    size_t nhot;
} classes[NCLASSES];

static size_t page_size;

/* The guard below each stack: 64 KiB (an eighth of smaller slots), so a
 * function with a large frame cannot step over it into the slot below
 * ("stack clash"). Guards cost address space only. */
static inline size_t guard_size(size_t slot_size)
{
    size_t g = slot_size / 8 < 65536 ? slot_size / 8 : 65536;
    return g < page_size ? page_size : g;
}
static int guard_mode = -1; /* -1 unknown, 0 madvise, 1 mprotect */
/* mprotect mode: mappings guards may still take (-1: not read yet), those
 * kept for the regions of gap mode, and the vm.max_map_count they were
 * read from, for the report. */
static long map_budget = -1;
static long region_budget;
static long map_max;
static size_t mprotect_guards;
static bool gap_mode;  /* no more guards: new stacks are gap-protected */
static bool gap_said;  /* the once-per-process line about it */
static size_t region_max = REGION_BYTES; /* lowered where big regions fail */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct sigaction prev_segv, prev_bus;
static pthread_key_t thread_key;

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

static void write_str(const char *s) { (void)!write(2, s, strlen(s)); }

static void write_num(unsigned long long v)
{
    char buf[24];
    int n = sizeof buf;
    do {
        buf[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n > 0);
    (void)!write(2, buf + n, sizeof buf - (size_t)n);
}

__thread struct cio__stack *cio__stack_running;

/* ---- overflow -------------------------------------------------------------------- */

/* The bytes just below a gap-protected stack: never written but by an
 * overflow, read as zero until then. Not instrumented: ASan knows nothing
 * of this memory and it is outside every frame. */
__attribute__((no_sanitize_address)) static bool canary_intact(const struct cio__stack *s)
{
    const uint64_t *w = (const uint64_t *)(const void *)(s->lo - CIO__STACK_CANARY);
    uint64_t acc = 0;
    for (size_t i = 0; i < CIO__STACK_CANARY / sizeof *w; i++)
        acc |= ((const volatile uint64_t *)w)[i];
    return acc == 0;
}

static __attribute__((noreturn)) void overflow_abort(struct cio__stack *s, const char *how)
{
    const char *name = s->describe ? s->describe(s->owner) : NULL;
    write_str("cio: stack overflow in task '");
    write_str(name ? name : "?");
    write_str("' (stack of ");
    write_num(s->usable / 1024);
    write_str(" KiB");
    write_str(how);
    write_str("; give it a larger cio_task_options.stack_size)\n");
    signal(SIGABRT, SIG_DFL);
    abort();
}

void cio__stack_check_slow(struct cio__stack *s, const void *saved_sp)
{
    if ((saved_sp && (const char *)saved_sp < s->lo) || !canary_intact(s))
        overflow_abort(s, ", no guard page: caught at its switch-out");
}

/* The interrupted context's stack pointer, or 0 where unknown. */
static uintptr_t fault_sp(void *uc)
{
#if defined(__x86_64__) && defined(REG_RSP)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

/* Hands a signal that is not a stack overflow to the handler installed
 * before ours, as the kernel would have: its mask (and the signal itself
 * unless SA_NODEFER) blocked while it runs, SA_RESETHAND honoured. A fault
 * ignored or left to the default action kills the process by the signal
 * (the kernel never lets a synchronous fault be ignored); a sent one
 * (kill) is ignored or kills as its disposition says. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    struct sigaction *prev = sig == SIGBUS ? &prev_bus : &prev_segv;
    bool info = prev->sa_flags & SA_SIGINFO;
    bool sent = si->si_code <= 0;
    if (!info && prev->sa_handler == SIG_IGN && sent)
        return;
    if (!info && (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN)) {
        signal(sig, SIG_DFL); /* a fault repeats on return and kills */
        if (sent)
            raise(sig);
        return;
    }
    struct sigaction act = *prev;
    if (prev->sa_flags & SA_RESETHAND) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
        memset(prev, 0, sizeof *prev); /* a second fault gets the default */
        prev->sa_handler = SIG_DFL;
    }
    sigset_t mask, old;
    mask = act.sa_mask;
    if (!(act.sa_flags & SA_NODEFER))
        sigaddset(&mask, sig);
    pthread_sigmask(SIG_BLOCK, &mask, &old);
    if (info)
        act.sa_sigaction(sig, si, uc);
    else
        act.sa_handler(sig);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    if (si->si_code <= 0) { /* sent by kill or raise: no fault address */
        chain(sig, si, uc);
        return;
    }
    uintptr_t a = (uintptr_t)si->si_addr;
    struct cio__stack *run = cio__stack_running;
    size_t n = atomic_load_explicit(&nregions, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        struct region *r = &regions[i];
        if (a < r->base || a >= r->base + r->size)
            continue;
        uintptr_t slot = r->base + (a - r->base) / r->slot_size * r->slot_size;
        if (a >= slot + guard_size(r->slot_size))
            break; /* inside a stack: not a guard */
        /* A guard was hit. The culprit is the stack running on this thread
         * (a large frame may have stepped past its own guard into another
         * slot's), else the guard's owner. */
        struct cio__stack *s = run;
        if (!s)
            s = (struct cio__stack *)(slot + r->slot_size - align_up(sizeof *s, 64));
        overflow_abort(s, "");
    }
    if (run && !run->guarded) {
        /* A gap-protected stack overflowed into unmapped memory, or its
         * overflow wrote into memory the task then tripped over. A stack
         * pointer on the alternate signal stack is a fault in a signal
         * handler, not an overflow. */
        uintptr_t sp = fault_sp(uc), lo = (uintptr_t)run->lo;
        stack_t alt;
        bool on_alt = sigaltstack(NULL, &alt) == 0 && !(alt.ss_flags & SS_DISABLE) &&
                      sp >= (uintptr_t)alt.ss_sp && sp < (uintptr_t)alt.ss_sp + alt.ss_size;
        if ((sp && sp < lo && !on_alt) || !canary_intact(run))
            overflow_abort(run, ", no guard page");
    }
    chain(sig, si, uc);
}

/* ---- threads ------------------------------------------------------------------------- */

/* Per thread, a few freed stacks of each class are kept without locking:
 * spawning a task and reaping it then touch no shared state. */
#define THREAD_CACHE 256
static __thread struct {
    struct cio__stack *list;
    unsigned n;
} tcache[NCLASSES];
static __thread bool thread_registered;
static __thread void *altstack_mem;
#define ALTSTACK_BYTES (64 * 1024)

static void put_shared(struct cio__stack *s, unsigned c);

/* At thread exit (a pthread key destructor): the thread's cached stacks go
 * back to the shared pool (or their memory to the kernel), and the
 * alternate signal stack cio made for it is freed. */
static void thread_exit(void *unused)
{
    (void)unused;
    for (unsigned c = 0; c < NCLASSES; c++) {
        struct cio__stack *s = tcache[c].list;
        tcache[c].list = NULL;
        tcache[c].n = 0;
        while (s) {
            struct cio__stack *next = s->next_free;
            put_shared(s, c);
            s = next;
        }
    }
    if (altstack_mem) {
        stack_t cur;
        if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == altstack_mem &&
            !(cur.ss_flags & SS_ONSTACK)) {
            stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
            if (sigaltstack(&off, NULL) == 0) {
                munmap(altstack_mem, ALTSTACK_BYTES);
                altstack_mem = NULL;
                cio__altstack_done = false; /* a task run later makes one again */
            }
        }
    }
    thread_registered = false;
}

static void init_once(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    (void)pthread_key_create(&thread_key, thread_exit);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);
}

/* Arranges for thread_exit to run when this thread ends. */
static void register_thread(void)
{
    pthread_once(&once, init_once);
    thread_registered = true;
    (void)pthread_setspecific(thread_key, (void *)1);
}

__thread bool cio__altstack_done;

void cio__stack_thread_init_slow(void)
{
    cio__altstack_done = true;
    if (!thread_registered)
        register_thread();
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return; /* the program has its own */
    void *p = mmap(NULL, ALTSTACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                   0);
    if (p == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(p, ALTSTACK_BYTES);
        return;
    }
    altstack_mem = p;
}

/* ---- slots ------------------------------------------------------------------------------ */

static inline unsigned class_of(size_t size, size_t *slot_size)
{
    unsigned c = 0;
    if (size > CIO__STACK_MIN) {
        /* ceil(log2(size)) - log2(16 KiB) */
        c = (unsigned)(64 - __builtin_clzll((unsigned long long)size - 1)) - 14;
        if (c > NCLASSES - 1)
            c = NCLASSES - 1;
    }
    *slot_size = (size_t)CIO__STACK_MIN << c;
    return c;
}

static long read_long_file(const char *path, long dflt)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dflt;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return dflt;
    buf[n] = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    return end == buf ? dflt : v;
}

static long count_mappings(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[8192];
    long lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

/* The mappings mprotect guards may use: vm.max_map_count less what is
 * mapped now, less a quarter of it (at least 4096) for the rest of the
 * program; read once, at the first mprotect guard. Of that, three quarters
 * go to guards and one to the regions of gap mode (a region and the guard
 * at its base: two mappings). */
static void compute_map_budget(void)
{
    map_max = read_long_file("/proc/sys/vm/max_map_count", 65530);
    long used = count_mappings();
    if (used < 0)
        used = map_max / 4; /* no /proc: assume a busy program */
    long headroom = map_max / 4 > 4096 ? map_max / 4 : 4096;
    long b = map_max - used - headroom;
    if (b < 0)
        b = 0;
    map_budget = b / 4 * 3;
    region_budget = b - map_budget;
}

static bool guard(char *slot, size_t len)
{
    if (guard_mode <= 0 && madvise(slot, len, MADV_GUARD_INSTALL) == 0) {
        guard_mode = 0;
        return true;
    }
    if (guard_mode == -1)
        guard_mode = 1;
    if (map_budget < 0)
        compute_map_budget();
    /* An mprotect guard splits its mapping: up to two more. */
    if (map_budget >= 2 && mprotect(slot, len, PROT_NONE) == 0) {
        map_budget -= 2;
        mprotect_guards++;
        return true;
    }
    /* Out of budget, or refused (ENOMEM: the limit): from now on every new
     * stack is gap-protected. */
    map_budget = 0;
    gap_mode = true;
    return false;
}

static void say_gap_once(void)
{
    if (gap_said)
        return;
    gap_said = true;
    write_str("cio: no stack guard pages left (MADV_GUARD_INSTALL is refused, so guards take "
              "mappings: ");
    write_num(mprotect_guards);
    write_str(" made within vm.max_map_count=");
    write_num((unsigned long long)(map_max > 0 ? map_max : 0));
    write_str("); further task stacks are gap-protected: an overflow is caught when its task "
              "switches out (see cio_task_options.stack_size in cio/task.h)\n");
}

/* Batching the kernel work of new slots. With process_madvise(2) (Linux
 * 6.13+ accepts any advice for the calling process) one call installs the
 * guards of PREP_BATCH slots and another populates their top pages, where
 * the task and the first frames live: measured on bench/ tasks_1m, a
 * million first touches cost more than everything else in starting a
 * million tasks, mostly in the trap of each page fault. Falls back to one
 * madvise (or mprotect) per guard, and plain faults, where the call is
 * refused. */
#define PREP_BATCH 256
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static int self_pidfd = -1;
static pid_t self_pid;
static bool batch_broken;

static bool batch_advise(struct iovec *iov, size_t n, int advice)
{
    if (batch_broken)
        return false;
    if (self_pid != getpid()) { /* first use, or a forked child */
        if (self_pidfd >= 0)
            close(self_pidfd);
        self_pid = getpid();
        self_pidfd = (int)syscall(SYS_pidfd_open, self_pid, 0);
    }
    if (self_pidfd < 0 ||
        syscall(SYS_process_madvise, self_pidfd, iov, n, advice, 0) < 0) {
        batch_broken = true;
        return false;
    }
    return true;
}

/* Prepares slots [first, first + n) of region r: guards and top pages. */
static bool prepare(struct region *r, size_t first, size_t n)
{
    struct iovec iov[PREP_BATCH];
    size_t g = guard_size(r->slot_size);
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = (char *)r->base + (first + i) * r->slot_size;
        iov[i].iov_len = g;
    }
    if (!batch_advise(iov, n, MADV_GUARD_INSTALL))
        return false;
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = (char *)r->base + (first + i + 1) * r->slot_size - page_size;
        iov[i].iov_len = page_size;
    }
    batch_advise(iov, n, MADV_POPULATE_WRITE); /* an optimisation only */
    return true;
}

/* A new region for slots of slot_size: 1 GiB (four slots for the biggest
 * classes), or smaller where that is refused, down to min_slots slots. */
static struct region *new_region(size_t slot_size, size_t min_slots)
{
    size_t n = atomic_load(&nregions);
    if (n == MAX_REGIONS)
        return NULL;
    size_t least = slot_size * min_slots;
    size_t want = slot_size > REGION_BYTES / 4 ? slot_size * 4 : REGION_BYTES;
    size_t bytes = want < region_max ? want : region_max;
    if (bytes < least)
        bytes = least;
    void *p;
    for (;;) {
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED)
            break;
        if (errno != ENOMEM || bytes <= least)
            return NULL;
        /* vm.overcommit_memory=2 charges the whole mapping: try smaller,
         * and remember it for the next regions. */
        bytes /= 2;
        if (bytes < least)
            bytes = least;
        if (bytes < region_max)
            region_max = bytes;
    }
    regions[n] = (struct region){(uintptr_t)p, bytes, slot_size};
    atomic_store_explicit(&nregions, n + 1, memory_order_release);
    if (map_budget > 0)
        map_budget--;
    return &regions[n];
}

/* A fresh slot of class c; call with the lock held. *guarded: whether its
 * guard is in place already (else the caller makes one). In gap mode the
 * slot below each stack is skipped, and the stack has no guard. */
static char *carve(unsigned c, size_t slot_size, bool *guarded)
{
    size_t need = gap_mode ? 2 : 1; /* gap protection: the gap and the stack */
    struct region *r = classes[c].cur;
    if (!r || classes[c].next_slot + need > r->size / slot_size) {
        if (!(r = new_region(slot_size, need)))
            return NULL;
        classes[c].cur = r;
        classes[c].next_slot = 0;
        classes[c].prepared = 0;
        /* In gap mode one guard per region stops an overflow that runs
         * through the gaps at the region's bottom, rather than in whatever
         * memory lies below it; while the regions' share of the mappings
         * lasts (past it, regions without a guard merge with their
         * neighbours and cost no mapping). */
        if (gap_mode && region_budget >= 2 &&
            mprotect((void *)r->base, guard_size(slot_size), PROT_NONE) == 0) {
            region_budget -= 2;
            mprotect_guards++;
        }
    }
    if (gap_mode) {
        size_t k = classes[c].next_slot + 1; /* slot next_slot is the gap */
        classes[c].next_slot += 2;
        *guarded = false;
        return (char *)r->base + k * slot_size;
    }
    size_t k = classes[c].next_slot++;
    if (k >= classes[c].prepared && !batch_broken) {
        size_t left = r->size / slot_size - k;
        size_t n = left < PREP_BATCH ? left : PREP_BATCH;
        if (prepare(r, k, n))
            classes[c].prepared = k + n;
    }
    *guarded = k < classes[c].prepared;
    return (char *)r->base + k * slot_size;
}

struct cio__stack *cio__stack_get(size_t size, size_t extra, void **extra_out)
{
    size_t slot_size;
    extra = align_up(extra, 64);
    if (size > CIO__STACK_MAX)
        return NULL;
    unsigned c = class_of(size, &slot_size);
    struct cio__stack *s = tcache[c].list;
    if (CIO_LIKELY(s && slot_size >= 4 * extra)) {
        /* Every slot of a class has the same layout for the same extra:
         * the only caller (task creation) always asks the same. */
        tcache[c].list = s->next_free;
        tcache[c].n--;
        *extra_out = (char *)s - extra;
        return s;
    }
    if (CIO_UNLIKELY(!thread_registered))
        register_thread();
    size_t hdr = align_up(sizeof(struct cio__stack), 64);
    if (size < hdr + extra + 3 * page_size)
        c = class_of(hdr + extra + 3 * page_size, &slot_size);

    pthread_mutex_lock(&lock);
    s = classes[c].hot;
    char *slot;
    bool guarded;
    if (s) {
        classes[c].hot = s->next_free;
        classes[c].nhot--;
        pthread_mutex_unlock(&lock);
        goto ready;
    }
    if ((s = classes[c].cold)) {
        classes[c].cold = s->next_free;
        pthread_mutex_unlock(&lock);
        goto ready; /* the header page comes back zeroed but for what we wrote */
    }
    slot = carve(c, slot_size, &guarded);
    if (slot && !guarded && !gap_mode && !(guarded = guard(slot, guard_size(slot_size))))
        slot = carve(c, slot_size, &guarded); /* the budget ended here: in gap mode now */
    if (!slot) {
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    if (!guarded)
        say_gap_once();
    pthread_mutex_unlock(&lock);
    s = (struct cio__stack *)(slot + slot_size - hdr);
    s->lo = slot + guard_size(slot_size);
    s->slot_size = slot_size;
    s->usable = (size_t)((char *)s - extra - s->lo);
    s->guarded = guarded;
#ifdef CIO_HAVE_VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, s->lo + s->usable);
#endif
ready:
    s->next_free = NULL;
    s->describe = NULL;
    s->owner = NULL;
    *extra_out = (char *)s - extra;
    return s;
}

/* Keeps s in the shared pool, with its memory up to HOT_PER_CLASS per
 * class, without it past that. */
static void put_shared(struct cio__stack *s, unsigned c)
{
    pthread_mutex_lock(&lock);
    if (classes[c].nhot < HOT_PER_CLASS) {
        s->next_free = classes[c].hot;
        classes[c].hot = s;
        classes[c].nhot++;
        pthread_mutex_unlock(&lock);
        return;
    }
    pthread_mutex_unlock(&lock);
    /* Give the memory back, header page included: copy what the header
     * must keep, drop the pages, write it again. */
    struct cio__stack keep = *s;
    madvise(keep.lo, (size_t)((char *)s - keep.lo) + align_up(sizeof *s, 64), MADV_DONTNEED);
    *s = keep;
    pthread_mutex_lock(&lock);
    s->next_free = classes[c].cold;
    classes[c].cold = s;
    pthread_mutex_unlock(&lock);
}

void cio__stack_put(struct cio__stack *s)
{
#ifdef CIO_ASAN
    /* Frames of the ended task never returned: clear their poison before
     * the stack serves another task. */
    __asan_unpoison_memory_region(s->lo, s->usable);
#endif
    size_t slot_size = s->slot_size;
    unsigned c = class_of(slot_size, &slot_size);
    if (CIO_LIKELY(tcache[c].n < THREAD_CACHE && thread_registered)) {
        s->next_free = tcache[c].list;
        tcache[c].list = s;
        tcache[c].n++;
        return;
    }
    put_shared(s, c);
}

void cio__stack_test_guard_budget(long mappings)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    guard_mode = 1;
    batch_broken = true;
    map_budget = mappings;
    region_budget = 1000;
    map_max = read_long_file("/proc/sys/vm/max_map_count", 65530);
    pthread_mutex_unlock(&lock);
}
