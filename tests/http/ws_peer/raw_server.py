#!/usr/bin/env python3
"""A raw-socket WebSocket server for tests/http/test_ws_interop.c: what
python3-websockets never sends, to test cio's client against it. Listens on
127.0.0.1 on a port the system picks, prints "PORT <n>", takes one
connection, prints the client's handshake request ("request" and its lines,
then "end request"), then:

  raw_server.py frame HEX     answers 101 properly, sends the bytes HEX (whole
                              frames, built by the test), then reads the
                              client's frames to the end of the connection and
                              prints "close <code> <reason>" for its close frame
                              ("close none" without one), and "unmasked" if a
                              client frame was not masked
  raw_server.py answer HEX    sends the bytes HEX as the whole answer to the
                              handshake (a bad one), shuts its side down, then
                              waits for the client to close the connection

and exits 0 ("ok"); 1 on a malformed request. {ACCEPT} in HEX's decoded text
is replaced by the right Sec-WebSocket-Accept value.
"""
import base64
import hashlib
import socket
import sys

import actions

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise SystemExit("no request")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    print("request")
    for line in lines:
        print(" ", line)
    print("end request", flush=True)
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return fields, rest


def accept_value(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def read_frames(conn, buf):
    """Client frames until the connection ends: the close frame's code."""
    close = None
    masked = True
    while True:
        while True:
            if len(buf) >= 2:
                n = buf[1] & 0x7F
                hl = 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if buf[1] & 0x80 else 0)
                if len(buf) >= hl:
                    if n == 126:
                        n = int.from_bytes(buf[2:4], "big")
                    elif n == 127:
                        n = int.from_bytes(buf[2:10], "big")
                    if len(buf) >= hl + n:
                        break
            chunk = conn.recv(65536)
            if not chunk:
                return close, masked
            buf += chunk
        op = buf[0] & 0x0F
        if buf[1] & 0x80:
            key = buf[hl - 4:hl]
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(buf[hl:hl + n]))
        else:
            masked = False
            payload = buf[hl:hl + n]
        buf = buf[hl + n:]
        if op == 8 and close is None:
            if len(payload) >= 2:
                close = "%d %s" % (int.from_bytes(payload[:2], "big"),
                                   payload[2:].decode("utf-8", "replace"))
            else:
                close = "nocode"
            # Answer the close as a server does, then wait for the end.
            try:
                conn.sendall(bytes([0x88, len(payload)]) + payload)
            except OSError:
                pass


def main():
    mode, hexdata = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    print("PORT", srv.getsockname()[1], flush=True)
    conn, _ = srv.accept()
    srv.close()
    fields, rest = read_request(conn)
    key = fields.get("sec-websocket-key", "")
    if mode == "frame":
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                      % accept_value(key)).encode())
        conn.sendall(bytes.fromhex(hexdata))
        close, masked = read_frames(conn, rest)
        print("close", close if close else "none")
        if not masked:
            print("unmasked")
    else:
        text = bytes.fromhex(hexdata).decode("latin-1").replace("{ACCEPT}", accept_value(key))
        try:
            conn.sendall(text.encode("latin-1"))
            conn.shutdown(socket.SHUT_WR)  # nothing more comes: a short answer ends here
        except OSError:
            pass  # the client refused the answer and left already
        conn.settimeout(60)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
    conn.close()
    print("ok", flush=True)


if __name__ == "__main__":
    actions.guard()
    main()
