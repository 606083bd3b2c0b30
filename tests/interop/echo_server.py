#!/usr/bin/env python3
"""Python `websockets` (sync API) as an echo server for hybi's client.

Usage: python3 echo_server.py PORT [MODE]   (PORT 0 picks a free port)

MODE sets its permessage-deflate (RFC 7692) side:
  off     (default) websockets' default, willing to compress; hybi's client
          with deflate off offers nothing, so nothing is agreed;
  on      the same default: it accepts hybi's offer and compresses;
  params  non-default: server_max_window_bits=11, client_max_window_bits=10
          (and whatever hybi's offer asks, such as server_no_context_takeover);
  window8 client_max_window_bits=8: hybi may not compress (it cannot with a
          256-byte window), this server does.

Listens on 127.0.0.1 and prints, one line each, flushed:
  "ready PORT"                    once listening;
  "open PATH SUBPROTOCOL EXTENSIONS"
                                  per connection: the agreed subprotocol and
                                  its 101's Sec-WebSocket-Extensions ("-" for
                                  none);
  "closed CODE REASON"            when a connection ends: the close frame
                                  it received ("closed none" if none).
Echoes every data message with its type, and obeys these text commands:
  "cmd:close CODE REASON"  closes with that code and reason;
  "cmd:ping PAYLOAD"       pings with PAYLOAD and, on the pong, sends
                           "pong-received PAYLOAD";
  "cmd:fragments"          sends "split 中文 😀" in four text fragments
                           (boundaries inside two characters, a ping between
                           the second and third) plus websockets' empty final
                           continuation;
  "cmd:fragments-big"      sends compressible(1 MiB) in 16 fragments.
Supports the subprotocol "echo.hybi". Exits when its standard input closes
(the test holds the other end) or after DEADLINE seconds.
"""

import os
import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.sync.server import serve

DEADLINE = 300  # seconds
FRAGMENTS = [b"split ", "中".encode()[:2], "中".encode()[2:] + "文 😀".encode()[:-2], "😀".encode()[-2:]]


def compressible(n):
    """n bytes of repetitive ASCII text (the same in every peer script)."""
    line = "The quick brown fox jumps over the lazy dog. "
    return (line * (n // len(line) + 1))[:n]


def say(line):
    print(line, flush=True)


def handler(ws):
    extensions = ws.response.headers.get("Sec-WebSocket-Extensions") or "-"
    say(f"open {ws.request.path} {ws.subprotocol or '-'} {extensions}")
    try:
        while True:
            message = ws.recv()
            if isinstance(message, str) and message.startswith("cmd:"):
                command, _, arg = message[4:].partition(" ")
                if command == "close":
                    code, _, reason = arg.partition(" ")
                    ws.close(int(code), reason)
                elif command == "ping":
                    if ws.ping(arg.encode()).wait(30):
                        ws.send(f"pong-received {arg}")
                    else:
                        ws.send(f"pong-missing {arg}")
                elif command == "fragments":

                    def chunks():
                        yield FRAGMENTS[0]
                        yield FRAGMENTS[1]
                        ws.ping(b"between fragments")
                        yield FRAGMENTS[2]
                        yield FRAGMENTS[3]

                    ws.send(chunks(), text=True)
                elif command == "fragments-big":
                    text = compressible(1 << 20)
                    step = len(text) // 16
                    ws.send([text[i : i + step] for i in range(0, len(text), step)])
                else:
                    ws.send(f"unknown command {command}")
            else:
                ws.send(message)
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        say(f"closed {rcvd.code} {rcvd.reason}" if rcvd else "closed none")


def main():
    sys.stdout.reconfigure(encoding="utf-8")
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    mode = sys.argv[2] if len(sys.argv) > 2 else "off"
    compression = {}
    if mode == "params":
        compression["extensions"] = [ServerPerMessageDeflateFactory(server_max_window_bits=11, client_max_window_bits=10)]
    elif mode == "window8":
        compression["extensions"] = [ServerPerMessageDeflateFactory(client_max_window_bits=8)]
    elif mode not in ("off", "on"):
        sys.exit(f"unknown mode {mode}")
    with serve(
        handler,
        "127.0.0.1",
        port,
        # Not subprotocols=[...]: with that list websockets refuses (HTTP 400)
        # a client that offers none; this accepts it without one.
        select_subprotocol=lambda _, offered: "echo.hybi" if "echo.hybi" in offered else None,
        ping_interval=None,
        max_size=32 << 20,
        **compression,
    ) as server:
        say(f"ready {server.socket.getsockname()[1]}")

        def stop_on_eof():
            sys.stdin.read()
            os._exit(0)

        threading.Thread(target=stop_on_eof, daemon=True).start()
        deadline = threading.Timer(DEADLINE, lambda: os._exit(2))
        deadline.daemon = True
        deadline.start()
        server.serve_forever()


if __name__ == "__main__":
    main()
