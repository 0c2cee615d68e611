/* Task stacks, designed for a million tasks.
 *
 * vm.max_map_count is 65530 here, and a guard page made with mprotect splits
 * its mapping in two: one mapping or one mprotect guard per stack cannot
 * reach a million tasks. So stacks are carved from large regions (one
 * mmap each, MAP_NORESERVE, memory committed only when touched), and each
 * slot's guard page is installed with madvise(MADV_GUARD_INSTALL) (Linux
 * 6.13+), which marks page-table entries without splitting the mapping: a
 * million guarded stacks cost a few hundred mappings. On older kernels the
 * guards fall back to mprotect, within a budget of mappings; past it stacks
 * go unguarded and debug mode says so once.
 *
 * A slot is a power of two (16 KiB to 1 GiB) holding, from the bottom: the
 * guard page, the stack, and at the very top the stack header and the
 * owner's data (the task). The task therefore lives in the page its stack
 * touches first: an idle task costs one page of RSS, not a page plus a heap
 * block. Freed stacks are kept per size class and reused hot (256 per
 * thread without a lock, 4096 more per class behind one), so spawning and
 * reaping in bursts costs no page fault and no system call; past that,
 * their memory is returned to the kernel (the guard survives
 * MADV_DONTNEED).
 *
 * Overflow: a SIGSEGV handler on an alternate signal stack looks the fault
 * address up in the regions; a hit in a guard page is a stack overflow and
 * the process dies with "cio: stack overflow in task '<name>'". Any other
 * fault goes to the previous handler (or the default action). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stack.h"

#define CIO_LIKELY(x) __builtin_expect(!!(x), 1)

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
#define MPROTECT_BUDGET 30000 /* guards made with mprotect, if madvise cannot */

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
static size_t mprotect_guards;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct sigaction prev_segv, prev_bus;

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

static void write_str(const char *s) { (void)!write(2, s, strlen(s)); }

__thread struct cio__stack *cio__stack_running;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    size_t n = atomic_load_explicit(&nregions, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        struct region *r = &regions[i];
        if (a < r->base || a >= r->base + r->size)
            continue;
        uintptr_t slot = r->base + (a - r->base) / r->slot_size * r->slot_size;
        if (a >= slot + guard_size(r->slot_size))
            break; /* inside a stack: not an overflow */
        /* A guard was hit. The culprit is the stack running on this thread
         * (a large frame may have stepped past its own guard into another
         * slot's), else the guard's owner. */
        struct cio__stack *s = cio__stack_running;
        if (!s)
            s = (struct cio__stack *)(slot + r->slot_size - align_up(sizeof *s, 64));
        const char *name = s->describe ? s->describe(s->owner) : NULL;
        char size_buf[32];
        snprintf(size_buf, sizeof size_buf, "%zu", s->usable / 1024);
        write_str("cio: stack overflow in task '");
        write_str(name ? name : "?");
        write_str("' (stack of ");
        write_str(size_buf);
        write_str(" KiB; give it a larger cio_task_options.stack_size)\n");
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* Not ours: hand it on. */
    struct sigaction *prev = sig == SIGBUS ? &prev_bus : &prev_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, si, uc);
    } else if (prev->sa_handler == SIG_IGN) {
        return;
    } else if (prev->sa_handler != SIG_DFL) {
        prev->sa_handler(sig);
    } else {
        signal(sig, SIG_DFL); /* the fault repeats on return and kills */
    }
}

static void init_once(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);
}

__thread bool cio__altstack_done;

void cio__stack_thread_init_slow(void)
{
    cio__altstack_done = true;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return; /* the program has its own */
    size_t sz = 64 * 1024;
    void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = p, .ss_size = sz, .ss_flags = 0};
    sigaltstack(&ss, NULL);
}

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

static bool guard(char *slot, size_t len)
{
    if (guard_mode <= 0 && madvise(slot, len, MADV_GUARD_INSTALL) == 0) {
        guard_mode = 0;
        return true;
    }
    if (guard_mode == -1)
        guard_mode = 1;
    if (guard_mode == 1 && mprotect_guards < MPROTECT_BUDGET &&
        mprotect(slot, len, PROT_NONE) == 0) {
        mprotect_guards++;
        return true;
    }
    return false;
}

/* A fresh slot of class c; call with the lock held. */
/* Batching the kernel work of new slots. With process_madvise(2) (Linux
 * 6.13+ accepts any advice for the calling process) one call installs the
 * guards of PREP_BATCH slots and another populates their top pages, where
 * the task and the first frames live: measured on bench/ tasks_1m, a
 * million first touches cost more than everything else in starting a
 * million tasks, mostly in the trap of each page fault. Falls back to one
 * madvise per guard, and plain faults, where the call is refused. */
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

static char *carve(unsigned c, size_t slot_size, bool *guarded)
{
    struct region *r = classes[c].cur;
    if (!r || classes[c].next_slot == r->size / slot_size) {
        size_t n = atomic_load(&nregions);
        if (n == MAX_REGIONS)
            return NULL;
        size_t bytes = slot_size > REGION_BYTES / 4 ? slot_size * 4 : REGION_BYTES;
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        regions[n] = (struct region){(uintptr_t)p, bytes, slot_size};
        atomic_store_explicit(&nregions, n + 1, memory_order_release);
        classes[c].cur = r = &regions[n];
        classes[c].next_slot = 0;
        classes[c].prepared = 0;
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

/* Per thread, a few freed stacks of each class are kept without locking:
 * spawning a task and reaping it then touch no shared state. */
#define THREAD_CACHE 256
static __thread struct {
    struct cio__stack *list;
    unsigned n;
} tcache[NCLASSES];

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
    pthread_once(&once, init_once);
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
    if (!slot) {
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    if (!guarded)
        guarded = guard(slot, guard_size(slot_size));
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

void cio__stack_put(struct cio__stack *s)
{
#ifdef CIO_ASAN
    /* Frames of the ended task never returned: clear their poison before
     * the stack serves another task. */
    __asan_unpoison_memory_region(s->lo, s->usable);
#endif
    size_t slot_size = s->slot_size;
    unsigned c = class_of(slot_size, &slot_size);
    if (tcache[c].n < THREAD_CACHE) {
        s->next_free = tcache[c].list;
        tcache[c].list = s;
        tcache[c].n++;
        return;
    }
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
