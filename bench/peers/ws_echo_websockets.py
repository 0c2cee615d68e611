"""ws_echo_websockets.py: the python3-websockets peer of ws_echo.

usage: ws_echo_websockets.py PORT

websockets' own echo server as its documentation shows it (websockets 10,
Debian's python3-websockets): websockets.serve(echo, host, port) with a
handler `async for message in websocket: await websocket.send(message)`, on
uvloop (uvloop.install(), then asyncio.run; plain asyncio when uvloop is
missing, said on stderr). Compression off (compression=None: no
permessage-deflate, which websockets would otherwise accept); the keep-alive
pings off (ping_interval=None: no server sends any during the run);
max_size and the queue at their defaults. Prints "ready" once it listens;
bench/run ends it with SIGTERM.
"""

import asyncio
import signal
import sys


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: ws_echo_websockets.py PORT")
    port = int(sys.argv[1])
    try:
        import websockets
    except ImportError as e:
        print(f"websockets missing: {e}", file=sys.stderr)
        sys.exit(77)
    try:
        import uvloop
    except ImportError:
        uvloop = None
        print("uvloop missing: running on asyncio's own loop", file=sys.stderr)

    async def echo(websocket, path=None):
        async for message in websocket:
            await websocket.send(message)

    async def serve():
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with websockets.serve(echo, "127.0.0.1", port, compression=None,
                                    ping_interval=None, backlog=511):
            print("ready", flush=True)
            await stop.wait()

    if uvloop is not None:
        uvloop.install()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
