#!/usr/bin/env python3
"""A python3-websockets server for tests/http/test_ws_interop.c: listens on
127.0.0.1 on a port the system picks, prints "PORT <n>", serves exactly one
connection by running the actions given (see actions.py), prints "ok" and
exits 0, or prints a traceback and exits 1.

  server.py [--no-compression] [--subprotocols a,b] [--max-size N] [--tls CERT,KEY] ACTION...
"""
import argparse
import asyncio
import sys
import traceback

import actions
import websockets


async def main():
    parser = argparse.ArgumentParser()
    actions.common_options(parser)
    args = parser.parse_args()
    done = asyncio.get_running_loop().create_future()

    async def handler(ws, path=None):
        if done.done():
            return
        try:
            print("path", ws.path, flush=True)
            await actions.run(ws, args.actions)
            if not done.done():
                done.set_result(True)
        except BaseException:
            traceback.print_exc()
            sys.stdout.flush()
            if not done.done():
                done.set_result(False)

    async with websockets.serve(handler, "127.0.0.1", 0, **actions.common_kwargs(args, server=True)) as srv:
        port = srv.sockets[0].getsockname()[1]
        print("PORT", port, flush=True)
        ok = await done
    print("ok" if ok else "failed", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    actions.guard()
    sys.exit(asyncio.run(main()))
