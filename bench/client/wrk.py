#!/usr/bin/python3
"""wrk.py: the load client of the HTTP workloads, around wrk (Debian's wrk 4.1).

usage: wrk.py BENCH URL pid=PID [secs=5] [conns=100] [threads=1] [pipeline=1]
              [paths=PATH[:SUFFIX],...]

For each PATH (default "/"), in order:
  1. one probe request (Python's socket or ssl module, HTTP/1.1, keep-alive
     as wrk's) to check the answer is 200 and to measure it:
     `response_bytes` (status line, header section and body) and
     `body_bytes`;
  2. wrk -tTHREADS -cCONNS -dSECS against URL+PATH with a Lua script written
     per run into a temporary directory. Its done() hook prints wrk's own
     figures as JSON (requests, duration, latency percentiles, errors).
     With pipeline=N the script's init() concatenates N requests made with
     wrk.format into one string and request() returns it: wrk sends the N
     requests in one write per connection and waits for the N responses
     before the next write. wrk counts every response as a request
     (summary.requests is the responses completed; checked against nginx's
     access log, see bench/README.md), so requests are never multiplied by N
     here;
  3. the server's CPU time over the wrk run: user + system of PID and every
     process below it (nginx's workers, h2o's threads are in its own), from
     /proc/*/stat, read just before wrk starts and just after it ends.

Metrics (each name + SUFFIX): requests_per_s, requests, p50_latency and
p99_latency (us), server_cpu_ns_per_op (ns per request), response_bytes,
body_bytes; errors (socket errors and non-2xx/3xx answers wrk counted: any
makes the run fail).
"""

import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.parse

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid):
    """User + system CPU of pid and its descendants (threads included)."""
    parent, times = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        p = int(name)
        parent[p] = int(rest[1])
        times[p] = (int(rest[11]) + int(rest[12])) / TICK
    total, todo = 0.0, [pid]
    children = {}
    for p, pp in parent.items():
        children.setdefault(pp, []).append(p)
    while todo:
        p = todo.pop()
        total += times.get(p, 0.0)
        todo.extend(children.get(p, []))
    return total


def probe(url):
    """One GET of url; returns (status, response bytes, body bytes)."""
    u = urllib.parse.urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    sock = socket.create_connection((u.hostname, port), timeout=10)
    if u.scheme == "https":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    with sock:
        path = u.path or "/"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{port}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit(f"wrk.py: {url}: the connection closed before the headers")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length is None:
            raise SystemExit(f"wrk.py: {url}: no Content-Length in the answer:\n{head!r}")
        while len(body) < length:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise SystemExit(f"wrk.py: {url}: the body ended early")
            body += chunk
        if os.environ.get("BENCH_SHOW_HEADERS"):
            print(head.decode("latin-1"), file=sys.stderr)
    return status, len(head) + 4 + length, length


LUA = """
local pipeline = %(pipeline)d
if pipeline > 1 then
   init = function(args)
      local r = {}
      for i = 1, pipeline do
         r[i] = wrk.format("GET", %(path)s)
      end
      req = table.concat(r)
   end
   request = function()
      return req
   end
end

-- wrk 4.1 adds synthetic samples after the run (its coordinated-omission
-- correction, at intervals of runtime / (responses / connections)); with
-- pipelining the interval is per response while a latency is per batch of N, so
-- samples land below the minimum it recorded, which latency:percentile() does not
-- walk: it then returns 0. Then the latency's maximum is reported (an upper bound).
local function percentiles(latency, ps)
   local out = {}
   for j, p in ipairs(ps) do
      local v = latency:percentile(p)
      if v == 0 then
         v = latency.max
      end
      out[j] = v
   end
   return out
end

done = function(summary, latency, requests)
   local e = summary.errors
   local p = percentiles(latency, {50, 99})
   io.write(string.format(
      '{"wrk": 1, "requests": %%d, "duration_us": %%d, "bytes": %%d, "p50_us": %%d, ' ..
      '"p99_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
      summary.requests, summary.duration, summary.bytes, p[1], p[2], e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    bench, url = sys.argv[1], sys.argv[2]
    opts = {"secs": "5", "conns": "100", "threads": "1", "pipeline": "1", "paths": "/",
            "pid": None}
    for arg in sys.argv[3:]:
        k, sep, v = arg.partition("=")
        if not sep or k not in opts:
            sys.exit(f"wrk.py: unknown argument {arg!r}")
        opts[k] = v
    if opts["pid"] is None:
        sys.exit("wrk.py: pid= is required")
    pid = int(opts["pid"])
    wrk = "/usr/bin/wrk" if os.path.exists("/usr/bin/wrk") else None
    if wrk is None:
        print("wrk is missing (scripts/deps.sh bench)", file=sys.stderr)
        sys.exit(77)
    pipeline = int(opts["pipeline"])
    out = []

    def emit(metric, unit, value, better, suffix):
        out.append({"bench": bench, "impl": "?", "metric": metric + suffix, "unit": unit,
                    "value": value, "better": better})

    with tempfile.TemporaryDirectory(prefix="cio-wrk-") as tmp:
        for spec in opts["paths"].split(","):
            path, _, suffix = spec.partition(":")
            status, size, body = probe(url + path)
            if status != 200:
                sys.exit(f"wrk.py: {url}{path}: status {status}, expected 200")
            script = os.path.join(tmp, f"script{len(out)}.lua")
            with open(script, "w") as f:
                f.write(LUA % {"pipeline": pipeline, "path": json.dumps(path)})
            cmd = [wrk, f"-t{opts['threads']}", f"-c{opts['conns']}", f"-d{opts['secs']}s",
                   "--timeout", "10s", "-s", script, url + path]
            cpu0 = tree_cpu_seconds(pid)
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            cpu1 = tree_cpu_seconds(pid)
            if r.returncode != 0:
                sys.exit(f"wrk.py: wrk failed ({r.returncode}): {r.stderr.strip()[-300:]}")
            res = None
            for line in r.stdout.splitlines():
                if line.startswith('{"wrk"'):
                    res = json.loads(line)
            if res is None or res["requests"] <= 0:
                sys.exit(f"wrk.py: no result from wrk:\n{r.stdout}{r.stderr}")
            errors = res["connect"] + res["read"] + res["write"] + res["status"] + res["timeout"]
            if errors:
                sys.exit(f"wrk.py: wrk counted errors: {res}")
            n = res["requests"]
            emit("requests_per_s", "1/s", n / (res["duration_us"] / 1e6), "higher", suffix)
            emit("p50_latency", "us", res["p50_us"], "lower", suffix)
            emit("p99_latency", "us", res["p99_us"], "lower", suffix)
            emit("server_cpu_ns_per_op", "ns", (cpu1 - cpu0) / n * 1e9, "lower", suffix)
            emit("requests", "", n, "higher", suffix)
            emit("response_bytes", "B", size, "lower", suffix)
            emit("body_bytes", "B", body, "lower", suffix)
    for rec in out:
        print(json.dumps(rec))


if __name__ == "__main__":
    main()
