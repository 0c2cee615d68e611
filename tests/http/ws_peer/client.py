#!/usr/bin/env python3
"""A python3-websockets client for tests/http/test_ws_interop.c: connects to
URL, runs the actions given (see actions.py) on the connection, closes it
normally if it is still open, prints "ok" and exits 0, or prints a
traceback and exits 1.

  client.py [--no-compression] [--subprotocols a,b] [--max-size N] [--ca FILE] URL ACTION...
"""
import argparse
import asyncio
import sys

import actions
import websockets


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    actions.common_options(parser)
    args = parser.parse_args()
    async with websockets.connect(args.url, open_timeout=60,
                                  **actions.common_kwargs(args)) as ws:
        await actions.run(ws, args.actions)
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    actions.guard()
    sys.exit(asyncio.run(main()))
