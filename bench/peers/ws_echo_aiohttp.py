"""ws_echo_aiohttp.py: the aiohttp peer of ws_echo.

usage: ws_echo_aiohttp.py PORT

aiohttp's WebSocket server as its documentation shows it: a route GET "/"
whose handler makes web.WebSocketResponse(), prepare()s it and echoes
every message it iterates (`async for msg in ws`: BINARY with
send_bytes, TEXT with send_str), on uvloop (uvloop.install(), then
asyncio.run). Compression off (compress=False: permessage-deflate is
neither offered nor accepted); autoping on (its default: it answers pings,
none come), no heartbeat (the default). The access log off
(AppRunner(access_log=None)), served with TCPSite on 127.0.0.1:PORT,
backlog 511. Prints "ready" once it listens; bench/run ends it with SIGTERM.
"""

import asyncio
import signal
import sys


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: ws_echo_aiohttp.py PORT")
    port = int(sys.argv[1])
    try:
        import uvloop
        from aiohttp import WSMsgType, web
    except ImportError as e:
        print(f"aiohttp or uvloop missing: {e}", file=sys.stderr)
        sys.exit(77)

    async def echo(request):
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    async def serve():
        app = web.Application()
        app.router.add_get("/", echo)
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
