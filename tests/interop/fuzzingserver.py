#!/usr/bin/env python3
"""A stand-in for the Autobahn|Testsuite fuzzingserver, for examples/autobahn_client.rs.

Usage: python3 fuzzingserver.py MODE

The real suite (`wstest -m fuzzingserver`, PyPI `autobahntestsuite`) is a
Python 2.7 program; this one is Python 3 and the standard library only,
written by hand on raw sockets so that it behaves like the fuzzingserver
where a client testee notices it:

* its URLs: `/getCaseCount` answers with one text message, the number of
  cases; `/runCase?case=N&agent=A` runs case N; `/updateReports?agent=A`
  "writes the reports" (here: prints the verdict) and closes;
* permessage-deflate (RFC 7692): MODE `deflate` requires the client's offer
  and accepts it (`permessage-deflate`, 15-bit windows, context takeover),
  compresses its own messages with zlib (an implementation independent of
  hybi's) and checks that the client's echoes of compressible messages
  come back compressed; MODE `off` requires no offer;
* the end of every connection: after the closing handshake it aborts the
  TCP connection (SO_LINGER 0, so the client reads a reset, as it does from
  the fuzzingserver), and one case aborts right after its Close without
  waiting for the reply.

The cases (each checks the echoes byte for byte):
  1 a short text message
  2 64 KiB of random binary, sent uncompressed (RSV1 clear) even with deflate
  3 256 KiB of compressible text, compressed; the echo must be too
  4 a compressed text message in four fragments with a Ping between them:
    the Pong must carry the Ping's payload
  5 1 MiB of compressible binary
  6 invalid UTF-8 in a text message: the client must fail the connection
    with Close 1007 (RFC 6455 §8.1)
  7 a text message, then Close 1000 and an immediate reset

Prints "listening PORT" once it listens on 127.0.0.1, a line per case
("case N: pass ..." or "case N: FAIL ..."), and after /updateReports
"PASS" (exit 0) or "FAIL" (exit 1). It exits when its standard input
closes, and with status 3 if the whole run takes longer than DEADLINE
seconds, so it always stops by itself.
"""

import base64
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import urllib.parse
import zlib

DEADLINE = 120  # seconds for the whole run
TIMEOUT = 30  # seconds for any one socket operation
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CASES = 7
INVALID_UTF8 = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"

results = {}
lock = threading.Lock()


def say(line):
    print(line, flush=True)


class CaseFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CaseFailed(what)


def compressible(n):
    words = [b"alpha ", b"beta ", b"gamma ", b"delta ", b"epsilon "]
    out = bytearray()
    i = 0
    while len(out) < n:
        out += words[i % len(words)]
        i += 1
    return bytes(out[:n])


def unmask(key, data):
    """XOR with the 4-byte key, fast enough for megabytes in pure Python."""
    n = len(data)
    if n == 0:
        return data
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(n, "little")


class Conn:
    def __init__(self, sock, deflate):
        self.sock = sock
        self.deflate = deflate
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, -15) if deflate else None
        self.decompressor = zlib.decompressobj(-15) if deflate else None
        self.wire_in = 0

    # -- bytes --

    def read_exact(self, n):
        chunks = []
        while n:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise CaseFailed("the client closed the connection early")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    # -- frames --

    def read_frame(self):
        b0, b1 = self.read_exact(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        check(b1 & 0x80, "a client frame without a mask (RFC 6455 §5.1)")
        key = self.read_exact(4)
        payload = unmask(key, self.read_exact(length))
        self.wire_in += 2 + 4 + length
        return b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0F, payload

    def send_frame(self, opcode, payload, fin=True, rsv1=False):
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", b0, 126, n)
        else:
            head = struct.pack("!BBQ", b0, 127, n)
        self.sock.sendall(head + payload)

    def compress(self, payload):
        data = self.compressor.compress(payload) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        return data[:-4]

    def send_message(self, opcode, payload, compress=None, fragments=1, ping_between=None):
        """Sends a message, compressed when deflate is on (unless told not
        to), in `fragments` frames, with a Ping after the first if asked."""
        if compress is None:
            compress = self.deflate
        data = self.compress(payload) if compress else payload
        step = max(1, -(-len(data) // fragments))
        parts = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            self.send_frame(opcode if i == 0 else 0x0, part, fin=last, rsv1=compress and i == 0)
            if i == 0 and ping_between is not None and not last:
                self.send_frame(0x9, ping_between)

    def read_message(self):
        """The next message: (opcode, payload, compressed, wire bytes), or
        ("pong", payload) / ("close", code, reason) for control frames."""
        start = self.wire_in
        fin, rsv1, opcode, payload = self.read_frame()
        if opcode == 0x8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            return ("close", code, payload[2:].decode("utf-8", "replace"))
        if opcode == 0xA:
            return ("pong", payload)
        if opcode == 0x9:
            self.send_frame(0xA, payload)
            return self.read_message()
        check(opcode in (0x1, 0x2), f"an unexpected opcode {opcode}")
        check(not rsv1 or self.deflate, "RSV1 without permessage-deflate")
        data = [payload]
        while not fin:
            fin, rsv, op, payload = self.read_frame()
            check(op == 0x0 and not rsv, "a bad continuation frame")
            data.append(payload)
        data = b"".join(data)
        if rsv1:
            data = self.decompressor.decompress(data + b"\x00\x00\xff\xff")
        return (opcode, data, rsv1, self.wire_in - start)

    def expect_echo(self, opcode, payload, compressed=False):
        got = self.read_message()
        check(got[0] == opcode, f"expected an echo of opcode {opcode}, got {got[:1]}")
        check(got[1] == payload, f"the echo differs ({len(got[1])} bytes for {len(payload)})")
        if compressed and self.deflate:
            check(got[2], "the echo of a compressible message was not compressed")
            check(got[3] < len(payload) // 4, f"the compressed echo took {got[3]} bytes for {len(payload)}")

    def close_and_reset(self, code=1000, wait_reply=True):
        self.send_frame(0x8, struct.pack("!H", code))
        if wait_reply:
            got = self.read_message()
            check(got[0] == "close", f"expected the Close reply, got {got[:1]}")
            check(got[1] == code, f"the Close reply has code {got[1]}")
        abort(self.sock)

    def expect_close(self, code):
        got = self.read_message()
        check(got[0] == "close" and got[1] == code, f"expected Close {code}, got {got[:2]}")


def abort(sock):
    """Aborts the connection: RST instead of FIN, as the fuzzingserver's
    dropConnection(abort=True) does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# -- the cases --


def case_text(c):
    c.send_message(0x1, "Hello, Autobahn ✓".encode())
    c.expect_echo(0x1, "Hello, Autobahn ✓".encode())
    c.close_and_reset()


def case_random_binary(c):
    payload = random.Random(2).randbytes(64 << 10)
    c.send_message(0x2, payload, compress=False)
    c.expect_echo(0x2, payload)
    c.close_and_reset()


def case_compressible_text(c):
    payload = compressible(256 << 10)
    c.send_message(0x1, payload)
    c.expect_echo(0x1, payload, compressed=True)
    c.close_and_reset()


def case_fragments_and_ping(c):
    payload = compressible(40 << 10)
    c.send_message(0x1, payload, fragments=4, ping_between=b"between")
    got = c.read_message()
    check(got == ("pong", b"between"), f"expected the Pong, got {got[:2]}")
    c.expect_echo(0x1, payload, compressed=True)
    c.close_and_reset()


def case_big_binary(c):
    payload = compressible(1 << 20)
    c.send_message(0x2, payload)
    c.expect_echo(0x2, payload, compressed=True)
    c.close_and_reset()


def case_invalid_utf8(c):
    # Uncompressed (RSV1 clear), which permessage-deflate allows.
    c.send_frame(0x1, INVALID_UTF8)
    c.expect_close(1007)
    c.send_frame(0x8, struct.pack("!H", 1007))
    abort(c.sock)


def case_reset_at_once(c):
    c.send_message(0x1, b"one more")
    c.expect_echo(0x1, b"one more")
    c.send_frame(0x8, struct.pack("!H", 1000))
    abort(c.sock)


CASE_FUNCTIONS = [
    case_text,
    case_random_binary,
    case_compressible_text,
    case_fragments_and_ping,
    case_big_binary,
    case_invalid_utf8,
    case_reset_at_once,
]
assert len(CASE_FUNCTIONS) == CASES


# -- the server --


def read_head(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise CaseFailed("the client closed before its request was complete")
        head += chunk
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return method, target, headers


def handshake(sock, mode):
    method, target, headers = read_head(sock)
    url = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qs(url.query)
    if url.path not in ("/getCaseCount", "/runCase", "/updateReports"):
        sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        raise CaseFailed(f"unknown path {url.path}")
    key = headers["sec-websocket-key"][0].encode()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    offers = ", ".join(headers.get("sec-websocket-extensions", []))
    offered = any(o.strip().split(";")[0].strip() == "permessage-deflate" for o in offers.split(","))
    if mode == "deflate":
        check(offered, f"no permessage-deflate offer ({offers!r})")
    else:
        check(not offered, f"permessage-deflate offered with deflate off ({offers!r})")
    answer = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n"
    )
    if offered:
        answer += "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    sock.sendall((answer + "\r\n").encode())
    return url.path, query, Conn(sock, offered)


def serve_one(sock, mode):
    sock.settimeout(TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    case = None
    try:
        path, query, conn = handshake(sock, mode)
        if path == "/getCaseCount":
            conn.send_message(0x1, str(CASES).encode())
            conn.close_and_reset()
        elif path == "/runCase":
            case = int(query["case"][0])
            agent = query.get("agent", ["?"])[0]
            CASE_FUNCTIONS[case - 1](conn)
            with lock:
                results[case] = None
            say(f"case {case}: pass (agent {agent}, deflate {'on' if conn.deflate else 'off'})")
        else:
            agent = query.get("agent", ["?"])[0]
            # The testee asks for the reports and closes; answer, then abort.
            conn.expect_close(1000)
            conn.send_frame(0x8, struct.pack("!H", 1000))
            abort(sock)
            report(agent)
    except (CaseFailed, OSError, KeyError, ValueError, IndexError) as exc:
        if case is not None:
            with lock:
                results[case] = str(exc)
            say(f"case {case}: FAIL {exc}")
        else:
            say(f"connection: FAIL {exc}")
        try:
            abort(sock)
        except OSError:
            pass


def report(agent):
    with lock:
        failed = {k: v for k, v in results.items() if v is not None}
        missing = [n for n in range(1, CASES + 1) if n not in results]
    say(f"report for {agent}: {CASES - len(failed) - len(missing)}/{CASES} cases passed")
    for case, why in sorted(failed.items()):
        say(f"  case {case}: {why}")
    if missing:
        say(f"  never run: {missing}")
    ok = not failed and not missing
    say("PASS" if ok else "FAIL")
    sys.stdout.flush()
    os._exit(0 if ok else 1)


def watch_stdin():
    sys.stdin.read()
    os._exit(0)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "deflate"
    if mode not in ("deflate", "off"):
        sys.exit(f"unknown mode {mode}")
    threading.Timer(DEADLINE, lambda: os._exit(3)).start()
    threading.Thread(target=watch_stdin, daemon=True).start()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    say(f"listening {listener.getsockname()[1]}")
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_one, args=(sock, mode), daemon=True).start()


if __name__ == "__main__":
    main()
