#!/usr/bin/python3
"""call_soon_chain and call_soon_batch for asyncio and uvloop (one script).

usage: call_soon.py {asyncio|uvloop} {chain|batch} [COUNT [ROUNDS]]

chain: each callback schedules the next with loop.call_soon, so one runs per
       loop iteration; COUNT callbacks (default 2M).
batch: COUNT callbacks (default 1M) scheduled with call_soon, then run; one
       untimed round, then ROUNDS (default 5) timed ones, scheduling included,
       like the C versions.
Prints the same JSON lines as the C benchmarks; exits 77 (skip) when the
event loop implementation is not installed.
"""

import asyncio
import json
import sys
import time


def emit(bench, impl, metric, unit, value, better):
    print(json.dumps({"bench": bench, "impl": impl, "metric": metric, "unit": unit,
                      "value": float("%.6g" % value), "better": better}), flush=True)


def new_loop(impl):
    if impl == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed", file=sys.stderr)
            sys.exit(77)
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def chain(loop, total):
    count = 0

    def step():
        nonlocal count
        count += 1
        if count == total:
            loop.stop()
        else:
            loop.call_soon(step)

    t0 = time.perf_counter()
    loop.call_soon(step)
    loop.run_forever()
    t1 = time.perf_counter()
    assert count == total, (count, total)
    return total / (t1 - t0)


def batch(loop, n, rounds):
    count = 0

    def on_call():
        nonlocal count
        count += 1
        if count == n:
            loop.stop()

    def one_round():
        nonlocal count
        count = 0
        call_soon = loop.call_soon
        for _ in range(n):
            call_soon(on_call)
        loop.run_forever()
        assert count == n, (count, n)

    one_round()
    t0 = time.perf_counter()
    for _ in range(rounds):
        one_round()
    t1 = time.perf_counter()
    return n * rounds / (t1 - t0)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("asyncio", "uvloop") or \
            sys.argv[2] not in ("chain", "batch"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    impl, mode = sys.argv[1], sys.argv[2]
    count = int(float(sys.argv[3])) if len(sys.argv) > 3 else (2000000 if mode == "chain" else 1000000)
    rounds = int(float(sys.argv[4])) if len(sys.argv) > 4 else 5
    loop = new_loop(impl)
    try:
        if mode == "chain":
            emit("call_soon_chain", impl, "callbacks_per_s_polled", "1/s", chain(loop, count),
                 "higher")
        else:
            emit("call_soon_batch", impl, "callbacks_per_s", "1/s", batch(loop, count, rounds),
                 "higher")
    finally:
        loop.close()


if __name__ == "__main__":
    main()
