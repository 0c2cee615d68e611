// switch, Boost.Context: the raw context switch of Boost's fcontext layer
// (jump_fcontext, hand-written assembly per architecture; the primitive
// under boost::context::fiber and Boost.Coroutine2). The main context and
// one coroutine jump back and forth; every jump is one switch. Reports ns
// per switch over N switches (default 100M; 10M at least for a stable
// figure).
//
// C++ because fcontext's only header is C++ (boost/context/detail/
// fcontext.hpp); the functions themselves are extern "C" assembly.
#include <boost/context/detail/fcontext.hpp>

#include <cstdlib>

#include "../../common.h"

namespace ctx = boost::context::detail;

namespace {

// The coroutine: jumps straight back to whoever jumped to it, forever. Its
// stack is freed without unwinding: it never returns.
void body(ctx::transfer_t t)
{
    for (;;)
        t = ctx::jump_fcontext(t.fctx, nullptr);
}

} // namespace

int main(int argc, char **argv)
{
    long total = bench_arg(argc, argv, 1, 100000000);
    long rounds = total / 2; // a round trip is two switches
    const std::size_t size = 64 * 1024;
    char *stack = static_cast<char *>(std::malloc(size));
    BENCH_CHECK(stack == nullptr);
    // The stack grows down: make_fcontext takes its top.
    ctx::fcontext_t co = ctx::make_fcontext(stack + size, size, body);

    for (long i = 0; i < 10000; i++) // warm-up: caches, branch predictors
        co = ctx::jump_fcontext(co, nullptr).fctx;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++)
        co = ctx::jump_fcontext(co, nullptr).fctx;
    uint64_t t1 = bench_now_ns();
    std::free(stack);

    bench_emit("switch", "boost", "ns_per_switch", "ns", (double)(t1 - t0) / (2.0 * rounds),
               "lower");
    return 0;
}
