#!/usr/bin/python3
"""spawn, tasks_1m and queue for asyncio and uvloop (one script).

usage: tasks.py {asyncio|uvloop} {spawn|tasks_1m|queue} [COUNT]

spawn:    create_task + await of an empty coroutine, COUNT times in a row
          (default 1M), then COUNT more in batches of 1,000 (all created,
          then awaited in order). Reports ns per task for each.
tasks_1m: COUNT tasks (default 1M) alive at once, each in asyncio.sleep(3600).
          Reports the time to start them all (each has reached its sleep)
          and the resident memory they add, per task (VmRSS delta / COUNT),
          and the page tables (VmPTE delta / COUNT).
          Then cancels them and waits for them (not timed). The cyclic
          garbage collector is off while they start: with it on, its passes
          over the growing heap take three quarters of the time (15 s instead
          of 3.5 s for 1M), a cost of CPython rather than of asyncio
          (it stays off until they are gone).
queue:    a producer task puts COUNT items (default 10M) into an
          asyncio.Queue(maxsize=1024), a consumer task gets them. Items/s.

Prints the same JSON lines as the C benchmarks; exits 77 (skip) when the
event loop implementation is not installed.
"""

import asyncio
import gc
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


def status_kib(field):
    """A size field of /proc/self/status (VmRSS, VmPTE), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


# ---- spawn -------------------------------------------------------------------

async def empty():
    pass


async def spawn(impl, n):
    create_task = asyncio.create_task
    for _ in range(1000):  # warm-up
        await create_task(empty())

    t0 = time.perf_counter()
    for _ in range(n):
        await create_task(empty())
    t1 = time.perf_counter()
    emit("spawn", impl, "ns_per_task", "ns", (t1 - t0) / n * 1e9, "lower")

    batch = 1000
    rounds = max(1, n // batch)
    t0 = time.perf_counter()
    for _ in range(rounds):
        tasks = [create_task(empty()) for _ in range(batch)]
        for t in tasks:
            await t
    t1 = time.perf_counter()
    emit("spawn", impl, "ns_per_task_batch", "ns", (t1 - t0) / (rounds * batch) * 1e9, "lower")


# ---- tasks_1m ------------------------------------------------------------------

started = 0


async def sleeper():
    global started
    started += 1
    await asyncio.sleep(3600)


async def tasks_1m(impl, n):
    create_task = asyncio.create_task
    tasks = [None] * n  # the list itself is not counted against the tasks
    gc.disable()
    rss0, pte0 = status_kib("VmRSS"), status_kib("VmPTE")
    t0 = time.perf_counter()
    for i in range(n):
        tasks[i] = create_task(sleeper())
    while started < n:  # each new task runs to its sleep on the next iteration
        await asyncio.sleep(0)
    t1 = time.perf_counter()
    rss1, pte1 = status_kib("VmRSS"), status_kib("VmPTE")
    emit("tasks_1m", impl, "start", "ms", (t1 - t0) * 1e3, "lower")
    emit("tasks_1m", impl, "rss_per_task", "KiB", (rss1 - rss0) / n, "lower")
    emit("tasks_1m", impl, "pte_per_task", "KiB", (pte1 - pte0) / n, "lower")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    gc.enable()


# ---- queue -----------------------------------------------------------------------

async def producer(q, n):
    put = q.put
    for i in range(n):
        await put(i)


async def consumer(q, n):
    get = q.get
    for i in range(n):
        item = await get()
        if item != i:
            raise RuntimeError(f"queue: got {item}, expected {i}")


async def queue(impl, n):
    q = asyncio.Queue(maxsize=1024)
    t0 = time.perf_counter()
    await asyncio.gather(producer(q, n), consumer(q, n))
    t1 = time.perf_counter()
    emit("queue", impl, "items_per_s", "1/s", n / (t1 - t0), "higher")


WORKLOADS = {"spawn": (spawn, 1000000), "tasks_1m": (tasks_1m, 1000000),
             "queue": (queue, 10000000)}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("asyncio", "uvloop") or \
            sys.argv[2] not in WORKLOADS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    impl, name = sys.argv[1], sys.argv[2]
    fn, default = WORKLOADS[name]
    count = int(float(sys.argv[3])) if len(sys.argv) > 3 else default
    loop = new_loop(impl)
    try:
        loop.run_until_complete(fn(impl, count))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
