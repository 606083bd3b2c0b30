#!/usr/bin/env python3
"""Python `websockets` (sync API) as a client against hybi's echo server.

Usage: python3 client.py URL MODE

MODE says what hybi's server was told about permessage-deflate (RFC 7692),
and so what this client offers and expects:
  off     websockets' default offer, which hybi (deflate off) declines;
  on      websockets' default offer, accepted: both sides compress;
  params  a non-default offer (server_max_window_bits=10,
          client_max_window_bits=12, client_no_context_takeover), accepted
          as asked;
  window8 an offer of server_max_window_bits=8, accepted: hybi cannot
          compress with a 256-byte window, so it sends uncompressed while
          this client compresses.
With deflate on (on, params, window8) it also sends an empty text first, measures
the bytes hybi's server counts on the TCP stream ("cmd:wire") around large
compressible messages (1 MiB of JSON, 16 MiB of repetitive text, 1 MiB of
text in 16 fragments: far fewer bytes than the payload, both ways) and an
incompressible one (1 MiB random: no fewer; with window8, hybi's side is
never fewer), and receives 1 MiB of
compressible text that hybi sends in 16 compressed fragments.

Started by tests/interop.rs, whose server echoes every data message and
obeys these text commands:
  "cmd:close CODE REASON"  it closes with that code and reason;
  "cmd:ping PAYLOAD"       it pings with PAYLOAD and, on the pong, sends
                           "pong-received PAYLOAD";
  "cmd:fragments"          it sends "split 中文 😀" in four text fragments
                           whose boundaries cut two characters in half;
  "cmd:wire"               it answers "wire READ WRITTEN": the bytes it has
                           read and written on this TCP connection so far;
  "cmd:fragments-big"      it sends compressible(1 MiB) in 16 fragments.

Prints "ok: CHECK" per check and "PASS" at the end; exits 1 on the first
mismatch (and 3 if the whole run takes longer than DEADLINE seconds), so
it always stops by itself.
"""

import os
import random
import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, PerMessageDeflate
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


def compressible(n):
    """n bytes of repetitive ASCII text (the same in every peer script)."""
    line = "The quick brown fox jumps over the lazy dog. "
    return (line * (n // len(line) + 1))[:n]


def json_text(n):
    """About n bytes of JSON: an array of similar records."""
    records, size, i = [], 2, 0
    while size < n:
        record = f'{{"id":{i},"name":"user-{i}","active":{str(i % 3 == 0).lower()},"tags":["a","b"]}}'
        records.append(record)
        size += len(record) + 1
        i += 1
    return "[" + ",".join(records) + "]"


def recv(ws):
    return ws.recv(timeout=TIMEOUT)


def options(**extra):
    # No proxy from the environment, no keepalive pings (the suite pings on
    # purpose), and room for the 16 MiB message.
    return dict(proxy=None, ping_interval=None, max_size=32 << 20, open_timeout=10, **extra)


def wire(ws):
    """The bytes hybi's server has read and written on this connection."""
    ws.send("cmd:wire")
    word, read, written = recv(ws).split()
    if word != "wire":
        fail(f"cmd:wire answered {word!r}")
    return int(read), int(written)


def measured_echo(ws, message, what):
    """Sends message (a list: its fragments), checks its echo; returns the
    bytes hybi's server read (our message, compressed) and wrote (its echo)
    for it, give or take the few bytes of one cmd:wire and its answer."""
    read0, written0 = wire(ws)
    ws.send(message)
    whole = "".join(message) if isinstance(message, list) else message
    check(recv(ws) == whole, f"{what} echoed")
    read1, written1 = wire(ws)
    return read1 - read0, written1 - written0


def check_negotiated(ws, mode):
    header = ws.response.headers.get("Sec-WebSocket-Extensions")
    extensions = ws.protocol.extensions
    if mode == "off":
        check(header is None and not extensions, "permessage-deflate offer declined (no extension)")
        return
    expected_header, expected = {
        "on": ("permessage-deflate", (False, False, 15, 15)),
        # websockets' names are from its own point of view (the client's):
        # remote is hybi's compressor, local ours.
        "params": (
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12",
            (False, True, 10, 12),
        ),
        "window8": ("permessage-deflate; server_max_window_bits=8", (False, False, 8, 15)),
    }[mode]
    check(header == expected_header, f"hybi's 101 accepts permessage-deflate: {header!r}")
    check(len(extensions) == 1 and isinstance(extensions[0], PerMessageDeflate), f"extensions in use: {extensions}")
    ext = extensions[0]
    got = (
        ext.remote_no_context_takeover,
        ext.local_no_context_takeover,
        ext.remote_max_window_bits,
        ext.local_max_window_bits,
    )
    check(got == expected, f"agreed (remote_nct, local_nct, remote_bits, local_bits) = {got}")


def deflate_checks(ws, hybi_compresses):
    """Large payloads with compression on: the wire must show it. hybi's
    side (written) is compressed unless it may not (window8)."""
    n = 1 << 20

    def small(read, written, limit, what):
        if hybi_compresses:
            check(read < limit and written < limit, f"{what} compressed both ways: {read} bytes in, {written} out")
        else:
            check(read < limit and written >= limit, f"{what} compressed by us only: {read} bytes in, {written} out")

    text = json_text(n)
    read, written = measured_echo(ws, text, f"{len(text)} bytes of JSON")
    small(read, written, len(text) // 3, "JSON")

    text = compressible(16 << 20)
    read, written = measured_echo(ws, text, "16 MiB of repetitive text")
    small(read, written, len(text) // 20, "16 MiB")

    text = compressible(n)
    chunks = [text[i : i + n // 16] for i in range(0, n, n // 16)]
    read, written = measured_echo(ws, chunks, "1 MiB of text in 16 fragments")
    small(read, written, n // 20, "fragmented text")

    data = payload(n)
    read, written = measured_echo(ws, data, "1 MiB of random bytes")
    check(read >= n and written >= n, f"random bytes stay their size on the wire: {read} bytes in, {written} out")

    ws.send("cmd:fragments-big")
    fragments = list(ws.recv_streaming(decode=False))
    check(
        b"".join(fragments).decode() == text and len(fragments) == 16,
        f"hybi's 1 MiB in {len(fragments)} compressed fragments received whole",
    )


def main_connection(url, mode):
    # websockets offers permessage-deflate by default.
    extra = {}
    if mode == "params":
        extra["extensions"] = [
            ClientPerMessageDeflateFactory(
                server_max_window_bits=10, client_max_window_bits=12, client_no_context_takeover=True
            )
        ]
    elif mode == "window8":
        extra["extensions"] = [ClientPerMessageDeflateFactory(server_max_window_bits=8)]
    with connect(url, subprotocols=["nope", PROTOCOL], **options(**extra)) as ws:
        check(ws.subprotocol == PROTOCOL, f"subprotocol negotiated: {ws.subprotocol!r}")
        check_negotiated(ws, mode)
        if mode != "off":
            # The first data message: hybi's report shows how it was framed.
            ws.send("")
            check(recv(ws) == "", "empty text echoed")

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

        if mode != "off":
            deflate_checks(ws, hybi_compresses=mode != "window8")

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
    if len(sys.argv) != 3 or sys.argv[2] not in ("off", "on", "params", "window8"):
        fail("usage: client.py URL off|on|params|window8")
    timer = threading.Timer(DEADLINE, lambda: (print("FAIL: deadline", flush=True), os._exit(3)))
    timer.daemon = True
    timer.start()
    url, mode = sys.argv[1], sys.argv[2]
    main_connection(url, mode)
    second_connection(url)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
