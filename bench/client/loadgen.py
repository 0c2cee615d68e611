#!/usr/bin/python3
"""loadgen.py: the client side of the loadgen workload: runs one HTTP load
generator (wrk, or cio's cio-bench) against the server bench/run started and
measures the generator.

usage: loadgen.py GEN URL pid=PID [secs=5] [conns=100] [threads=1] [bin=PATH]

GEN is `wrk` (Debian's wrk 4.1, /usr/bin/wrk), `cio` (cio-bench, the
program at bin=PATH: requests through cio's HTTP client) or `cio_raw`
(cio-bench --raw: its own requests on cio streams, parsed with llhttp). Both get the same connections (-c CONNS), threads
(-t THREADS) and duration (-d SECS) against URL, plain keep-alive GETs.
First one probe request (wrk.py's probe: the answer must be 200), then the
generator runs as a child of this script, on the CPU bench/run gave it.

Metrics: requests_per_s (responses completed per second, as the generator
counts them over its own run), requests, client_cpu_ns_per_op (the
generator's user + system CPU time, all its threads, from getrusage's
RUSAGE_CHILDREN around its run, per request), server_cpu_ns_per_op (the
server's, PID and its children, from /proc, per request), p50_latency and
p99_latency (us, as the generator reports them). Any error the generator
counts (socket errors, non-2xx answers) makes the run fail.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrk import LUA, probe, tree_cpu_seconds  # noqa: E402


def children_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(url, opts, tmp):
    wrk = "/usr/bin/wrk" if os.path.exists("/usr/bin/wrk") else None
    if wrk is None:
        print("wrk is missing (scripts/deps.sh bench)", file=sys.stderr)
        sys.exit(77)
    script = os.path.join(tmp, "done.lua")
    with open(script, "w") as f:
        f.write(LUA % {"pipeline": 1, "path": json.dumps("/")})
    cmd = [wrk, f"-t{opts['threads']}", f"-c{opts['conns']}", f"-d{opts['secs']}s",
           "--timeout", "10s", "-s", script, url]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"loadgen.py: wrk failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    res = None
    for line in r.stdout.splitlines():
        if line.startswith('{"wrk"'):
            res = json.loads(line)
    if res is None or res["requests"] <= 0:
        sys.exit(f"loadgen.py: no result from wrk:\n{r.stdout}{r.stderr}")
    errors = res["connect"] + res["read"] + res["write"] + res["status"] + res["timeout"]
    if errors:
        sys.exit(f"loadgen.py: wrk counted errors: {res}")
    return res["requests"], res["duration_us"] / 1e6, res["p50_us"], res["p99_us"]


def find(obj, *names):
    """The first of names found in obj (a dict, searched one level down too)."""
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
    for v in (obj.values() if isinstance(obj, dict) else []):
        if isinstance(v, dict):
            got = find(v, *names)
            if got is not None:
                return got
    return None


def run_cio(url, opts, tmp, raw):
    exe = opts["bin"]
    if not exe or not os.path.exists(exe):
        print(f"cio-bench is not built ({exe})", file=sys.stderr)
        sys.exit(77)
    cmd = [exe, url, "-c", opts["conns"], "-t", opts["threads"], "-d", opts["secs"], "--json"]
    if raw:
        cmd.append("--raw")
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY"):
        env.pop(k, None)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"loadgen.py: cio-bench failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    try:
        res = json.loads(r.stdout[r.stdout.index("{"):])
    except ValueError:
        sys.exit(f"loadgen.py: no JSON from cio-bench:\n{r.stdout[-500:]}{r.stderr[-300:]}")
    requests = find(res, "requests", "completed")
    duration = find(res, "duration_s", "duration", "seconds", "elapsed_s")
    errors = find(res, "errors")
    if isinstance(errors, dict):
        errors = sum(v for v in errors.values() if isinstance(v, (int, float)))
    if not requests or not duration:
        sys.exit(f"loadgen.py: cio-bench's JSON lacks requests or duration:\n{r.stdout[-800:]}")
    if errors:
        sys.exit(f"loadgen.py: cio-bench counted errors: {errors}")
    status = res.get("status")
    if isinstance(status, dict):
        bad = {k: v for k, v in status.items() if k != "2xx" and v}
        if bad:
            sys.exit(f"loadgen.py: cio-bench saw answers other than 2xx: {bad}")
    lat = find(res, "latency_us", "latency") or {}
    p50 = find(lat, "p50", "p50_us") if isinstance(lat, dict) else None
    p99 = find(lat, "p99", "p99_us") if isinstance(lat, dict) else None
    return requests, float(duration), p50, p99


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("wrk", "cio", "cio_raw"):
        sys.exit(__doc__)
    gen, url = sys.argv[1], sys.argv[2]
    opts = {"secs": "5", "conns": "100", "threads": "1", "pid": None, "bin": None}
    for arg in sys.argv[3:]:
        k, sep, v = arg.partition("=")
        if not sep or k not in opts:
            sys.exit(f"loadgen.py: unknown argument {arg!r}")
        opts[k] = v
    if opts["pid"] is None:
        sys.exit("loadgen.py: pid= is required")
    pid = int(opts["pid"])
    status, _, _ = probe(url)
    if status != 200:
        sys.exit(f"loadgen.py: {url}: status {status}, expected 200")
    with tempfile.TemporaryDirectory(prefix="cio-loadgen-") as tmp:
        cpu0, srv0 = children_cpu_s(), tree_cpu_seconds(pid)
        if gen == "wrk":
            n, secs, p50, p99 = run_wrk(url, opts, tmp)
        else:
            n, secs, p50, p99 = run_cio(url, opts, tmp, gen == "cio_raw")
        cpu1, srv1 = children_cpu_s(), tree_cpu_seconds(pid)
    out = [("requests_per_s", "1/s", n / secs, "higher"),
           ("requests", "", n, "higher"),
           ("client_cpu_ns_per_op", "ns", (cpu1 - cpu0) / n * 1e9, "lower"),
           ("server_cpu_ns_per_op", "ns", (srv1 - srv0) / n * 1e9, "lower")]
    if p50 is not None:
        out.append(("p50_latency", "us", p50, "lower"))
    if p99 is not None:
        out.append(("p99_latency", "us", p99, "lower"))
    for metric, unit, value, better in out:
        print(json.dumps({"bench": "loadgen", "impl": gen, "metric": metric, "unit": unit,
                          "value": value, "better": better}))


if __name__ == "__main__":
    main()
