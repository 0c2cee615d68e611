"""aiohttp_client.py: the aiohttp peer of client_pool.

usage: aiohttp_client.py URL [total=100000] [conns=100] [phases=seq,par] [body=13]

aiohttp's client as its documentation shows it, on uvloop (uvloop.install(),
then asyncio.run): one ClientSession for the whole run, its connector a
TCPConnector(limit=CONNS) (the pool: keep-alive connections reused), each
request `async with session.get(url) as resp: await resp.read()`.

  seq: one task makes TOTAL GETs one after another (one connection);
  par: CONNS tasks, each making TOTAL/CONNS GETs one after another, at once
       (CONNS connections).

Every answer must be 200 with a body of BODY bytes. No proxy from the
environment (trust_env=False, aiohttp's default), no cookie jar work
(DummyCookieJar), the answer's body not decompressed (nginx sends it
plain). Prints for each phase P: requests_per_s_P and client_cpu_ns_per_op_P
(this process's user + system CPU time, getrusage, per request).
"""

import asyncio
import resource
import sys
import time


def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def emit(metric, unit, value, better):
    print(f'{{"bench": "client_pool", "impl": "aiohttp", "metric": "{metric}", '
          f'"unit": "{unit}", "value": {value:.6g}, "better": "{better}"}}', flush=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    url = sys.argv[1]
    opts = {"total": "100000", "conns": "100", "phases": "seq,par", "body": "13"}
    for arg in sys.argv[2:]:
        k, sep, v = arg.partition("=")
        if not sep or k not in opts:
            sys.exit(f"aiohttp_client.py: unknown argument {arg!r}")
        opts[k] = v
    total, conns, body = int(opts["total"]), int(opts["conns"]), int(opts["body"])
    if total < 1 or conns < 1 or total % conns:
        sys.exit("aiohttp_client.py: total and conns positive, total a multiple of conns")
    try:
        import aiohttp
        import uvloop
    except ImportError as e:
        print(f"aiohttp or uvloop missing: {e}", file=sys.stderr)
        sys.exit(77)

    async def worker(session, n):
        for _ in range(n):
            async with session.get(url) as resp:
                data = await resp.read()
                if resp.status != 200 or len(data) != body:
                    raise SystemExit(f"aiohttp_client.py: status {resp.status}, "
                                     f"body {len(data)} bytes")

    async def run():
        connector = aiohttp.TCPConnector(limit=conns)
        async with aiohttp.ClientSession(connector=connector,
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            for phase in opts["phases"].split(","):
                if phase == "seq":
                    tasks, each = 1, total
                elif phase == "par":
                    tasks, each = conns, total // conns
                else:
                    raise SystemExit(f"aiohttp_client.py: unknown phase {phase!r}")
                cpu0, t0 = cpu_s(), time.monotonic()
                await asyncio.gather(*(worker(session, each) for _ in range(tasks)))
                dt, cpu = time.monotonic() - t0, cpu_s() - cpu0
                emit(f"requests_per_s_{phase}", "1/s", total / dt, "higher")
                emit(f"client_cpu_ns_per_op_{phase}", "ns", cpu * 1e9 / total, "lower")

    uvloop.install()
    asyncio.run(run())


if __name__ == "__main__":
    main()
