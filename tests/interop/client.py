#!/usr/bin/env python3
"""Python `websockets` (sync API) as a client against hybi's echo server.

Usage: python3 client.py URL

Started by tests/interop.rs, whose server echoes every data message and
obeys three text commands:
  "cmd:close CODE REASON"  it closes with that code and reason;
  "cmd:ping PAYLOAD"       it pings with PAYLOAD and, on the pong, sends
                           "pong-received PAYLOAD";
  "cmd:fragments"          it sends "split 中文 😀" in four text fragments
                           whose boundaries cut two characters in half.

Prints "ok: CHECK" per check and "PASS" at the end; exits 1 on the first
mismatch (and 3 if the whole run takes longer than DEADLINE seconds), so
it always stops by itself.
"""

import os
import random
import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

DEADLINE = 120  # seconds for the whole run
TIMEOUT = 30  # seconds for any one receive
PROTOCOL = "echo.hybi"
SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]
# The longest close reason: 123 bytes of UTF-8 (a Close payload is at most 125).
LONG_REASON = "server bye " + "✓" * 37 + "!"
TEXTS = [
    "hello, hybi",
    "你好，世界",  # 3-byte UTF-8
    "😀🎉🚀",  # 4-byte UTF-8
    "mixed: é ß 中文 😀 end",
]


def fail(what):
    print(f"FAIL: {what}", flush=True)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)
    print(f"ok: {what}", flush=True)


def payload(n):
    """n deterministic pseudo-random bytes (a pattern would hide offset bugs)."""
    return random.Random(n).randbytes(n)


def recv(ws):
    return ws.recv(timeout=TIMEOUT)


def options(**extra):
    # No proxy from the environment, no keepalive pings (the suite pings on
    # purpose), and room for the 16 MiB message.
    return dict(proxy=None, ping_interval=None, max_size=32 << 20, open_timeout=10, **extra)


def main_connection(url):
    # websockets offers permessage-deflate by default: hybi must decline it.
    with connect(url, subprotocols=["nope", PROTOCOL], **options()) as ws:
        check(ws.subprotocol == PROTOCOL, f"subprotocol negotiated: {ws.subprotocol!r}")
        check(
            ws.response.headers.get("Sec-WebSocket-Extensions") is None
            and not ws.protocol.extensions,
            "permessage-deflate offer declined (no extension)",
        )

        for text in TEXTS:
            ws.send(text)
            got = recv(ws)
            check(got == text, f"text echoed: {text!r}")

        for n in SIZES:
            data = payload(n)
            ws.send(data)
            got = recv(ws)
            check(isinstance(got, bytes) and got == data, f"binary of {n} bytes echoed")

        sent = []
        for i in range(1000):
            message = f"pipelined {i} 😀" if i % 2 == 0 else f"pipelined {i}".encode()
            sent.append(message)
            ws.send(message)
        got = [recv(ws) for _ in range(1000)]
        check(got == sent, "1,000 pipelined messages echoed in order, types kept")

        for data in [b"", b"ping \x00\xff payload", bytes(range(125))]:
            pong = ws.ping(data)
            check(pong.wait(TIMEOUT), f"ping of {len(data)} bytes answered by a pong with the same payload")

        ws.send("cmd:ping from-hybi ✓")
        check(recv(ws) == "pong-received from-hybi ✓", "hybi's ping answered (hybi saw our pong)")

        ws.send(["frag", "men", "ted ", "😀"])
        check(recv(ws) == "fragmented 😀", "fragmented text (4 frames + empty final) echoed whole")
        ws.send([b"\x00\x01", b"", b"\x02\x03"])
        check(recv(ws) == b"\x00\x01\x02\x03", "fragmented binary with an empty fragment echoed whole")
        emoji = "中😀".encode()
        ws.send([emoji[:2], emoji[2:5], emoji[5:]], text=True)
        check(recv(ws) == "中😀", "text fragments cutting UTF-8 sequences echoed whole")

        def with_ping():
            yield "before "
            ws.ping(b"mid-message")
            yield "after"

        ws.send(with_ping())
        check(recv(ws) == "before after", "fragmented text with a ping between fragments echoed whole")

        ws.send("cmd:fragments")
        fragments = list(ws.recv_streaming(decode=False))
        check(
            b"".join(fragments).decode() == "split 中文 😀" and len(fragments) == 4,
            f"hybi's fragmented text received as {len(fragments)} fragments",
        )

        ws.close(4000, "client bye ✓")
        rcvd = ws.protocol.close_rcvd
        check(rcvd is not None and rcvd.code == 4000, f"hybi answered our close with {rcvd and rcvd.code} {rcvd and rcvd.reason!r}")


def second_connection(url):
    # No subprotocol offered, no compression offered; hybi closes first.
    with connect(url, compression=None, **options()) as ws:
        check(ws.subprotocol is None, "no subprotocol when none offered")
        ws.send("hello again")
        check(recv(ws) == "hello again", "second connection echoes")
        ws.send(f"cmd:close 4001 {LONG_REASON}")
        try:
            got = recv(ws)
            fail(f"expected hybi's close, got a message {got!r}")
        except ConnectionClosed as exc:
            rcvd, sent = exc.rcvd, exc.sent
            check(
                rcvd is not None and rcvd.code == 4001 and rcvd.reason == LONG_REASON,
                f"hybi's close seen: {rcvd and rcvd.code} with a 123-byte reason {rcvd and rcvd.reason!r}",
            )
            check(sent is not None and sent.code == 4001, "our close reply echoed the code")


def main():
    sys.stdout.reconfigure(encoding="utf-8")
    if len(sys.argv) != 2:
        fail("usage: client.py URL")
    timer = threading.Timer(DEADLINE, lambda: (print("FAIL: deadline", flush=True), os._exit(3)))
    timer.daemon = True
    timer.start()
    url = sys.argv[1]
    main_connection(url)
    second_connection(url)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
