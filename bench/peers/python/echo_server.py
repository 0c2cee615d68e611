#!/usr/bin/python3
"""The server of the server workloads for asyncio and uvloop, with asyncio
streams (asyncio.start_server), as the asyncio documentation shows.

usage: echo_server.py {asyncio|uvloop} PORT [echo|accept]

echo:   each connection's handler task reads up to 64 KiB
        (reader.read(65536)), writes it back and awaits writer.drain()
        (the transport's default high-water mark is 64 KiB, its low-water
        mark 16 KiB, as the C servers').
accept: the handler writes one byte and closes the connection.

Listens on 127.0.0.1:PORT (backlog 511, SO_REUSEADDR); both loops set
TCP_NODELAY on every TCP connection by themselves (checked with getsockopt),
raises the soft descriptor limit to the hard one, prints "ready" once it
listens, and serves until killed. Exits 77 (skip) when uvloop is missing.
"""

import asyncio
import resource
import sys


def new_loop(impl):
    if impl == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed", file=sys.stderr)
            sys.exit(77)
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def accept_one(reader, writer):
    writer.write(b"x")
    writer.close()


async def main(port, mode):
    handler = accept_one if mode == "accept" else echo
    server = await asyncio.start_server(handler, "127.0.0.1", port, backlog=511,
                                        reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def run():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("asyncio", "uvloop") or \
            (len(sys.argv) == 4 and sys.argv[3] not in ("echo", "accept")):
        sys.exit("usage: echo_server.py {asyncio|uvloop} PORT [echo|accept]")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = new_loop(sys.argv[1])
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main(int(sys.argv[2]), sys.argv[3] if len(sys.argv) == 4 else "echo"))


if __name__ == "__main__":
    run()
