"""Shared pieces of the WebSocket peers of tests/http/test_ws_interop.c.

The C test tells a peer (server.py, client.py) what to do with a list of
actions, run in order on one connection, each a word with arguments after
colons:

  send:t:N | send:b:N       a text / binary message of N pattern bytes
  sendz:N                   a binary message of N zero bytes (compresses well)
  sendtext:STR              a text message STR (UTF-8 from the command line)
  frag:t:N1,N2,.. | frag:b:N1,N2,..
                            one message sent as fragments of N1, N2, .. pattern
                            bytes (websockets' send of an async iterator)
  fragtext:A|B|..           one text message of fragments A, B, ..
  raw:FIN:OP:HEX            one frame written as is (websockets' write_frame:
                            masked by a client; compressed only when
                            permessage-deflate is on, so raw cases turn it off)
  expect:t:N | expect:b:N   the next message is text / binary, N pattern bytes
  expecttext:STR            the next message is the text STR
  expectprefix:STR          the next message is a text starting with STR
  sendrep:N:K | expectrep:N:K
                            a binary message of a random block of N bytes
                            (seeded with N) repeated K times: deflate finds
                            its repeats N bytes back, past a small window
  echo:K                    receive K messages and send each back as it came
  echo                      the same until the connection closes
  ping:HEX                  a ping with that payload; waits for its pong
  close:CODE:REASON         the close handshake with CODE and REASON
  closeraw:HEX              a close frame with that payload (empty: no code),
                            then waits until the connection is closed
  closed:CODE[:REASON]      waits for the end of the connection; the close
                            code (and reason) the peer sent must be these
                            (1006: none came)
  deflate:0 | deflate:1     whether permessage-deflate was negotiated
  subprotocol:NAME | subprotocol:-
                            the subprotocol agreed on (-: none)

The pattern byte i is (i * 31 + i // 251) % 95 + 32: printable ASCII, so
valid text too, and not periodic in any small power of two. Each peer
prints "ok" when every action passed, else a traceback, and exits 1.
"""
import asyncio
import ctypes
import signal
import sys


def guard(seconds=120):
    """Bounds the peer's life: SIGALRM (default action: exit) after seconds,
    and SIGKILL when the test process that started it dies."""
    signal.alarm(seconds)
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not Linux
        pass


def pattern(n):
    return bytes(((i * 31 + i // 251) % 95 + 32) for i in range(n))


async def _pieces(items):
    for item in items:
        yield item


def _fragments(kind, sizes):
    total = pattern(sum(sizes))
    out, off = [], 0
    for n in sizes:
        out.append(total[off:off + n])
        off += n
    if kind == "t":
        return [p.decode() for p in out]
    return out


def _check(cond, what):
    if not cond:
        raise AssertionError(what)


def _describe(msg):
    if isinstance(msg, str):
        return "text of %d chars: %r" % (len(msg), msg[:60])
    return "binary of %d bytes: %r" % (len(msg), bytes(msg[:60]))


async def run(ws, actions, timeout=60):
    for action in actions:
        word, _, rest = action.partition(":")
        if word == "send":
            kind, n = rest.split(":")
            data = pattern(int(n))
            await ws.send(data.decode() if kind == "t" else data)
        elif word == "sendz":
            await ws.send(bytes(int(rest)))
        elif word == "sendtext":
            await ws.send(rest)
        elif word == "frag":
            kind, sizes = rest.split(":")
            await ws.send(_pieces(_fragments(kind, [int(s) for s in sizes.split(",")])))
        elif word == "fragtext":
            await ws.send(_pieces(rest.split("|")))
        elif word == "raw":
            fin, op, hexdata = rest.split(":")
            await ws.write_frame(fin == "1", int(op), bytes.fromhex(hexdata))
        elif word == "expect":
            kind, n = rest.split(":")
            msg = await asyncio.wait_for(ws.recv(), timeout)
            want = pattern(int(n))
            if kind == "t":
                want = want.decode()
            _check(msg == want, "%s: got %s" % (action, _describe(msg)))
        elif word == "expecttext":
            msg = await asyncio.wait_for(ws.recv(), timeout)
            _check(msg == rest, "%s: got %s" % (action, _describe(msg)))
        elif word in ("sendrep", "expectrep"):
            import random
            n, k = (int(x) for x in rest.split(":"))
            data = random.Random(n).randbytes(n) * k
            if word == "sendrep":
                await ws.send(data)
            else:
                msg = await asyncio.wait_for(ws.recv(), timeout)
                _check(msg == data, "%s: got %s" % (action, _describe(msg)))
        elif word == "expectprefix":
            msg = await asyncio.wait_for(ws.recv(), timeout)
            _check(isinstance(msg, str) and msg.startswith(rest),
                   "%s: got %s" % (action, _describe(msg)))
        elif word == "echo":
            if rest:
                for _ in range(int(rest)):
                    await ws.send(await asyncio.wait_for(ws.recv(), timeout))
            else:
                # Until the peer closes (with any code: closed:CODE checks it).
                from websockets.exceptions import ConnectionClosed
                try:
                    async for msg in ws:
                        await ws.send(msg)
                except ConnectionClosed:
                    pass
        elif word == "ping":
            waiter = await ws.ping(bytes.fromhex(rest))
            await asyncio.wait_for(waiter, timeout)
        elif word == "close":
            code, reason = rest.split(":", 1)
            await ws.close(int(code), reason)
        elif word == "closeraw":
            from websockets.frames import Close
            await ws.write_close_frame(Close(1005, ""), bytes.fromhex(rest))
            await asyncio.wait_for(ws.wait_closed(), timeout)
        elif word == "closed":
            code, _, reason = rest.partition(":")
            await asyncio.wait_for(ws.wait_closed(), timeout)
            _check(ws.close_code == int(code),
                   "%s: the peer closed with %r %r" % (action, ws.close_code, ws.close_reason))
            if reason:
                _check(ws.close_reason == reason,
                       "%s: the peer's reason was %r" % (action, ws.close_reason))
        elif word == "deflate":
            on = any(type(e).__name__ == "PerMessageDeflate" for e in ws.extensions)
            _check(on == (rest == "1"), "%s: extensions %r" % (action, ws.extensions))
        elif word == "subprotocol":
            want = None if rest == "-" else rest
            _check(ws.subprotocol == want, "%s: got %r" % (action, ws.subprotocol))
        else:
            raise ValueError("unknown action " + action)
        print("done", action[:60], flush=True)


def common_options(parser):
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--tls", default=None, help="server: CERT,KEY (wss)")
    parser.add_argument("--ca", default=None, help="client: the CA file to trust (wss)")
    parser.add_argument("--deflate", default=None,
                        help="permessage-deflate parameters, comma-separated "
                             "(server_max_window_bits=10,client_no_context_takeover,...)")
    parser.add_argument("--subprotocols", default=None)
    parser.add_argument("--max-size", type=int, default=4 << 20)
    parser.add_argument("actions", nargs="*")


def common_kwargs(args, server=False):
    kw = dict(compression=None if args.no_compression else "deflate",
              max_size=args.max_size, ping_interval=None, close_timeout=30)
    if args.subprotocols:
        kw["subprotocols"] = args.subprotocols.split(",")
    if args.deflate:
        from websockets.extensions import permessage_deflate as pmd
        params = {}
        for item in args.deflate.split(","):
            name, _, value = item.partition("=")
            params[name] = int(value) if value else True
        factory = (pmd.ServerPerMessageDeflateFactory if server
                   else pmd.ClientPerMessageDeflateFactory)
        kw["compression"] = None
        kw["extensions"] = [factory(**params)]
    if args.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls.split(","))
        kw["ssl"] = ctx
    if args.ca:
        import ssl
        kw["ssl"] = ssl.create_default_context(cafile=args.ca)
    return kw
