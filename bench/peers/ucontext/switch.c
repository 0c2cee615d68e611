/* switch, ucontext: glibc's swapcontext between the main context and one
 * coroutine made with makecontext; every swapcontext is one switch. It saves
 * and restores the signal mask with a system call each time (rt_sigprocmask),
 * which is most of its cost and the reason coroutine libraries write their
 * own switch. Reports ns per switch over N switches (default 10M). */
#include "../../common.h" /* first: it defines _GNU_SOURCE */

#include <ucontext.h>

static ucontext_t main_uc, co_uc;

static void body(void)
{
    for (;;)
        swapcontext(&co_uc, &main_uc);
}

int main(int argc, char **argv)
{
    long total = bench_arg(argc, argv, 1, 10000000);
    long rounds = total / 2; /* a round trip is two switches */
    const size_t size = 64 * 1024;
    char *stack = malloc(size);
    BENCH_CHECK(stack == NULL);
    BENCH_CHECK(getcontext(&co_uc));
    co_uc.uc_stack.ss_sp = stack;
    co_uc.uc_stack.ss_size = size;
    co_uc.uc_link = NULL;
    makecontext(&co_uc, body, 0);

    for (long i = 0; i < 10000; i++) /* warm-up */
        BENCH_CHECK(swapcontext(&main_uc, &co_uc));
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++)
        swapcontext(&main_uc, &co_uc);
    uint64_t t1 = bench_now_ns();
    free(stack);

    bench_emit("switch", "ucontext", "ns_per_switch", "ns", (double)(t1 - t0) / (2.0 * rounds),
               "lower");
    return 0;
}
