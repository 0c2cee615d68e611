"""The demo app's chat (examples/app/chat.c) from python3-websockets:
tests/http/test_demo_app.sh runs it as  demo_app_ws.py ws://127.0.0.1:PORT/chat

1. Two members: a message from one reaches both (the sender included), with
   the sender's name; joining and leaving are announced.
2. A message over the 4096-byte limit closes its connection with 1009.
3. A member that stops reading is dropped (its queue of 64 messages fills:
   the room does not wait for it), and the others are told; meanwhile the
   room keeps serving the fast member, and the slow one's connection is
   closed (/json's chat_connections drops to 1) although it reads nothing.
Every wait is bounded (asyncio.wait_for); prints "ws ok" when all passed.

    demo_app_ws.py URL --hold READY_FILE
joins the room, writes READY_FILE once welcomed, then waits (120 s at most)
for the server to close the connection and prints "closed CODE" (the test
stops the server meanwhile: 1001, going away, is expected)."""
import asyncio
import json
import random
import string
import sys
import urllib.request

import websockets

URL = sys.argv[1]


async def get_json(path):
    def get():
        http = "http://" + URL.split("://", 1)[1].split("/", 1)[0]
        with urllib.request.urlopen(http + path, timeout=30) as r:
            return json.loads(r.read())
    return await asyncio.get_running_loop().run_in_executor(None, get)


async def next_of(ws, pred, what):
    while True:
        m = json.loads(await ws.recv())
        if pred(m):
            return m


async def round_trip():
    async with websockets.connect(URL) as a:
        wa = await next_of(a, lambda m: m["type"] == "welcome", "welcome a")
        async with websockets.connect(URL) as b:
            wb = await next_of(b, lambda m: m["type"] == "welcome", "welcome b")
            assert wa["from"] != wb["from"], (wa, wb)
            await next_of(a, lambda m: m["type"] == "join" and m["from"] == wb["from"], "join")
            text = "hello from a \u2713 <b>not html</b>"
            await a.send(text)
            for ws in (a, b):
                m = await next_of(ws, lambda m: m["type"] == "message", "message")
                assert m["text"] == text and m["from"] == wa["from"], m
            await b.send("and back")
            for ws in (a, b):
                m = await next_of(ws, lambda m: m["type"] == "message", "message")
                assert m["text"] == "and back" and m["from"] == wb["from"], m
        m = await next_of(a, lambda m: m["type"] == "leave", "leave")
        assert m["from"] == wb["from"], m


async def too_big():
    async with websockets.connect(URL) as c:
        await c.send("x" * 5000)
        await c.wait_closed()
        assert c.close_code == 1009, c.close_code


async def slow_member():
    # The slow one queues one message at most and stops reading its socket
    # beyond 4 KiB: the server's writes to it back up, then its queue.
    slow = await websockets.connect(URL, compression=None, max_queue=1, read_limit=4096)
    try:
        w = json.loads(await slow.recv())
        assert w["type"] == "welcome", w
        async with websockets.connect(URL, compression=None) as fast:
            await next_of(fast, lambda m: m["type"] == "welcome", "welcome fast")
            rnd = random.Random(1)
            body = "".join(rnd.choice(string.ascii_letters) for _ in range(3900))
            dropped = False
            sent = 0
            # Lockstep windows of 16: the fast member reads its own echoes
            # before sending more, so only the slow one falls behind.
            while not dropped:
                assert sent < 40000, "the slow member was never dropped"
                for i in range(16):
                    await fast.send(f"{sent + i} {body}")
                got = 0
                while got < 16:
                    m = json.loads(await fast.recv())
                    if m["type"] == "message":
                        got += 1
                    elif m["type"] == "dropped" and m["from"] == w["from"]:
                        dropped = True
                sent += 16
            # The room still works for those left.
            await fast.send("still here")
            await next_of(fast, lambda m: m["type"] == "message" and m["text"] == "still here", "after")
            # The slow one's connection is closed although it reads nothing
            # (the close handshake gives up after close_timeout): only the
            # fast one's is left.
            while (await get_json("/json"))["chat_connections"] != 1:
                await asyncio.sleep(0.05)
    finally:
        slow.transport.abort()


async def hold(ready_file):
    async with websockets.connect(URL) as c:
        w = json.loads(await c.recv())
        assert w["type"] == "welcome", w
        with open(ready_file, "w") as f:
            f.write("ready\n")
        try:
            while True:
                await c.recv()
        except websockets.ConnectionClosed:
            pass
        print(f"closed {c.close_code}")


async def main():
    if len(sys.argv) == 4 and sys.argv[2] == "--hold":
        await asyncio.wait_for(hold(sys.argv[3]), 120)
        return
    await asyncio.wait_for(round_trip(), 60)
    await asyncio.wait_for(too_big(), 60)
    await asyncio.wait_for(slow_member(), 240)
    print("ws ok")


asyncio.run(main())
