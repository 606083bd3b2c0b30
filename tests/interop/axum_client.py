#!/usr/bin/env python3
"""Python `websockets` (sync API) as a client of examples/axum_server.rs.

Usage: python3 axum_client.py URL

Checks, against the axum app whose /ws route uses hybi's extractor:
  * the handshake: subprotocol "echo" chosen from ["other", "echo"], and
    permessage-deflate (websockets' default offer) agreed;
  * echoes of text (ASCII and 4-byte UTF-8), binary (all 256 byte values,
    empty) and 512 KiB of compressible text;
  * a Ping answered with its payload;
  * the closing handshake started by this client, 1000 both ways;
  * a second connection sending 2 MiB, over the route's 1 MiB message
    limit (hybi's Config::max_message_size): the server fails it with 1009.

Prints "ok: CHECK" per check and "PASS" at the end; exits 1 on the first
mismatch (and 3 if the whole run takes longer than DEADLINE seconds).
"""

import os
import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.sync.client import connect

DEADLINE = 60
TIMEOUT = 20


def fail(what):
    print(f"FAIL: {what}", flush=True)
    sys.exit(1)


def ok(what):
    print(f"ok: {what}", flush=True)


def check(condition, what):
    if not condition:
        fail(what)
    ok(what)


def main():
    threading.Timer(DEADLINE, lambda: os._exit(3)).start()
    url = sys.argv[1]

    with connect(url, subprotocols=["other", "echo"], max_size=4 << 20, open_timeout=TIMEOUT) as ws:
        check(ws.subprotocol == "echo", f"subprotocol echo (got {ws.subprotocol})")
        extensions = ws.protocol.extensions
        check(
            len(extensions) == 1 and isinstance(extensions[0], PerMessageDeflate),
            f"permessage-deflate agreed (got {extensions})",
        )
        big = ("axum and hybi, " * 40000)[: 512 << 10]
        for message in ["hello", "😀 four bytes", bytes(range(256)), b"", big]:
            ws.send(message)
            echo = ws.recv(timeout=TIMEOUT)
            check(echo == message, f"echo of {type(message).__name__} of {len(message)}")
        pong = ws.ping(b"are you there")
        check(pong.wait(TIMEOUT), "the Ping answered")
        ws.close(1000, "bye")
        rcvd = ws.protocol.close_rcvd
        check(rcvd is not None and rcvd.code == 1000, f"the server's Close 1000 (got {rcvd})")

    with connect(url, subprotocols=["echo"], max_size=4 << 20, open_timeout=TIMEOUT) as ws:
        ws.send(b"x" * (2 << 20))
        try:
            ws.recv(timeout=TIMEOUT)
            fail("an answer to a message over the limit")
        except ConnectionClosed as exc:
            check(exc.rcvd is not None and exc.rcvd.code == 1009, f"Close 1009 for 2 MiB (got {exc.rcvd})")

    print("PASS", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
