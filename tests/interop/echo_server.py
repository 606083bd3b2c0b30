#!/usr/bin/env python3
"""Python `websockets` (sync API) as an echo server for hybi's client.

Usage: python3 echo_server.py PORT   (0 picks a free port)

Listens on 127.0.0.1 and prints, one line each, flushed:
  "ready PORT"                    once listening;
  "open PATH SUBPROTOCOL"         per connection ("-" for none);
  "closed CODE REASON"            when a connection ends: the close frame
                                  it received ("closed none" if none).
Echoes every data message with its type, and obeys three text commands:
  "cmd:close CODE REASON"  closes with that code and reason;
  "cmd:ping PAYLOAD"       pings with PAYLOAD and, on the pong, sends
                           "pong-received PAYLOAD";
  "cmd:fragments"          sends "split 中文 😀" in four text fragments
                           (boundaries inside two characters, a ping between
                           the second and third) plus websockets' empty final
                           continuation.
Supports the subprotocol "echo.hybi". Exits when its standard input closes
(the test holds the other end) or after DEADLINE seconds.
"""

import os
import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

DEADLINE = 300  # seconds
FRAGMENTS = [b"split ", "中".encode()[:2], "中".encode()[2:] + "文 😀".encode()[:-2], "😀".encode()[-2:]]


def say(line):
    print(line, flush=True)


def handler(ws):
    say(f"open {ws.request.path} {ws.subprotocol or '-'}")
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
    with serve(
        handler,
        "127.0.0.1",
        port,
        # Not subprotocols=[...]: with that list websockets refuses (HTTP 400)
        # a client that offers none; this accepts it without one.
        select_subprotocol=lambda _, offered: "echo.hybi" if "echo.hybi" in offered else None,
        ping_interval=None,
        max_size=32 << 20,
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
