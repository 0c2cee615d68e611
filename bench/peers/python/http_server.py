"""http_server.py: the aiohttp peer of http_plain and http_pipelined.

usage: http_server.py PORT

aiohttp's web module as its documentation shows it, on uvloop
(uvloop.install(), then asyncio.run): one route, GET "/", answering
web.Response(text="Hello, World!") (Content-Type "text/plain;
charset=utf-8", Content-Length, Date and Server added by aiohttp), the
access log off (AppRunner(access_log=None)), served with TCPSite on
127.0.0.1:PORT, backlog 511. Prints "ready" once it listens; bench/run ends
it with SIGTERM.
"""

import asyncio
import signal
import sys


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: http_server.py PORT")
    port = int(sys.argv[1])
    try:
        import uvloop
        from aiohttp import web
    except ImportError as e:
        print(f"aiohttp or uvloop missing: {e}", file=sys.stderr)
        sys.exit(77)

    async def hello(request):
        return web.Response(text="Hello, World!")

    async def serve():
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=511)
        await site.start()
        print("ready", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    uvloop.install()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
