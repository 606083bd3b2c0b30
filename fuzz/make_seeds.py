#!/usr/bin/env python3
"""Writes the seed corpora fuzz/seeds/<target>/ from the RFC 6455 vectors
(shared/rfc/VECTORS.md: the §1.2 handshake, the §5.7 frames, the accept
keys). Each seed is in its target's input layout, documented on the target
in its module under fuzz/src/. Run it from anywhere; it rewrites every seed folder.

    python3 fuzz/make_seeds.py
"""

import base64
import hashlib
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The key of a client whose entropy counts up from 0 (fuzz/src/shared/mod.rs).
CLIENT_KEY = base64.b64encode(bytes(range(16)))
assert CLIENT_KEY == b"AAECAwQFBgcICQoLDA0ODw=="


def accept(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


assert accept(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# RFC 6455 §1.2.
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
# Real-world request shapes from VECTORS.md.
WILD_REQUEST = (
    b"GET ws://echo.websocket.org/?encoding=text HTTP/1.1\r\n"
    b"Host: echo.websocket.org\r\n"
    b"Upgrade: WebSocket\r\n"
    b"Connection: keep-alive, Upgrade\r\n"
    b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    b"Cookie: a=b\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def h(s: str) -> bytes:
    return bytes.fromhex(s)


KEY = h("37fa213d")


def masked(first: int, payload: bytes) -> bytes:
    """A frame as a client sends it (key 37 fa 21 3d)."""
    n = len(payload)
    if n <= 125:
        head = bytes([first, 0x80 | n])
    elif n <= 0xFFFF:
        head = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


def plain(first: int, payload: bytes) -> bytes:
    """A frame as a server sends it."""
    n = len(payload)
    if n <= 125:
        head = bytes([first, n])
    elif n <= 0xFFFF:
        head = bytes([first, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 127]) + n.to_bytes(8, "big")
    return head + payload


# RFC 6455 §5.7, verbatim.
HELLO = h("810548656c6c6f")
HELLO_MASKED = h("818537fa213d7f9f4d5158")
FRAG_1, FRAG_2 = h("010348656c"), h("80026c6f")
PING = h("890548656c6c6f")
PONG_MASKED = h("8a8537fa213d7f9f4d5158")
BIN_256 = h("827e0100") + bytes(range(256))
CLOSE_1000 = plain(0x88, (1000).to_bytes(2, "big") + b"bye")
CLOSE_1000_MASKED = masked(0x88, (1000).to_bytes(2, "big") + b"bye")

WHOLE = b"\x00"  # chunks: count 0, the stream goes in whole


def chunks(*sizes: int) -> bytes:
    return bytes([len(sizes)]) + bytes(sizes)


def response(extra: bytes = b"", key: bytes = CLIENT_KEY) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept(key) + b"\r\n" + extra + b"\r\n"
    )


SEED_SETS = {
    "frame_header": {
        "hello": HELLO,
        "hello_masked": HELLO_MASKED,
        "fragment_first": FRAG_1,
        "fragment_last": FRAG_2,
        "ping": PING,
        "pong_masked": PONG_MASKED,
        "len16": h("827e0100"),
        "len64": h("827f0000000000010000"),
        "len64_masked": h("82ff000000000001000037fa213d"),
        "len_not_minimal": h("827e007c"),
        "len_top_bit": h("827f8000000000000000"),
        "close_1000": CLOSE_1000,
    },
    "server_handshake": {
        "rfc_request": b"\x00" + WHOLE + RFC_REQUEST + HELLO_MASKED + CLOSE_1000_MASKED,
        "rfc_request_chunked_protocol": b"\x08"
        + chunks(1, 7, 64, 0)
        + RFC_REQUEST
        + masked(0x01, b"Hel")
        + PONG_MASKED
        + masked(0x80, b"lo"),
        "wild_request": b"\x00" + chunks(13) + WILD_REQUEST,
        "rejected_403": b"\x10" + WHOLE + RFC_REQUEST,
        "plain_get": b"\x01" + WHOLE + b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "version_8": b"\x00" + WHOLE + RFC_REQUEST.replace(b"Version: 13", b"Version: 8"),
        "post": b"\x00" + WHOLE + RFC_REQUEST.replace(b"GET", b"POST"),
        "small_limits": b"\x06" + chunks(3) + RFC_REQUEST,
    },
    "client_response": {
        "accepted": b"\x00" + WHOLE + response() + HELLO + PING + CLOSE_1000,
        "accepted_chat": b"\x08"
        + chunks(5, 1, 0)
        + response(b"Sec-WebSocket-Protocol: chat\r\n")
        + FRAG_1
        + FRAG_2,
        "accepted_deflate": b"\x10"
        + WHOLE
        + response(b"Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "wrong_accept": b"\x00"
        + WHOLE
        + response().replace(accept(CLIENT_KEY), b"HSmrc0sM1YUkAGmm50PpG2HaGWk="),
        "unauthorized": b"\x04"
        + chunks(2)
        + b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n"
        b"Content-Length: 12\r\n\r\nlogin please",
        "redirect": b"\x00"
        + WHOLE
        + b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\nContent-Length: 0\r\n\r\n",
    },
    "server_connection": {
        "hello_masked": b"\x00" + WHOLE + HELLO_MASKED + CLOSE_1000_MASKED,
        "fragments_and_pong": b"\x00"
        + chunks(1, 2, 3)
        + masked(0x01, b"Hel")
        + PONG_MASKED
        + masked(0x89, b"ping")
        + masked(0x80, b"lo")
        + CLOSE_1000_MASKED,
        "utf8_split": b"\x00" + chunks(1) + masked(0x01, "h\u00e9".encode()[:2]) + masked(
            0x80, "\u00e9\u20ac".encode()[1:]
        ),
        "binary_256": b"\x00" + chunks(100) + masked(0x82, bytes(range(256))),
        "small_limits": b"\x3f" + WHOLE + masked(0x81, b"x" * 120) + masked(0x89, b"p"),
        "invalid_utf8": b"\x00" + WHOLE + masked(0x81, b"ok\xff"),
        # permessage-deflate agreed (option bit 6): the RFC 7692 §7.2.3
        # vectors from VECTORS.md, masked as a browser sends them.
        "deflate_vectors": b"\x40"
        + chunks(1, 3)
        + masked(0xC1, h("f248cdc9c90700"))
        + masked(0xC1, h("f200110000"))
        + masked(0x41, h("f248cd"))
        + masked(0x80, h("c9c90700"))
        + masked(0xC1, h("000500faff48656c6c6f00"))
        + masked(0xC1, h("f348cdc9c9070000"))
        + masked(0xC1, h("f24805000000ffffcac9c90700"))
        + CLOSE_1000_MASKED,
        "deflate_no_context": b"\xC0"
        + WHOLE
        + masked(0xC1, h("f248cdc9c90700"))
        + masked(0xC1, h("f248cdc9c90700")),
    },
    "client_connection": {
        "hello": b"\x00" + WHOLE + HELLO + CLOSE_1000,
        "fragments_and_ping": b"\x00" + chunks(1, 2, 3) + FRAG_1 + PING + FRAG_2,
        "binary_256": b"\x00" + chunks(7) + BIN_256,
        "no_auto_reply": b"\x03" + WHOLE + PING + CLOSE_1000,
        "small_limits": b"\x3f" + WHOLE + plain(0x82, b"y" * 120) + PING,
        "empty_close": b"\x00" + WHOLE + h("8800"),
        "deflate_vectors": b"\x40"
        + chunks(2)
        + plain(0xC1, h("f248cdc9c90700"))
        + plain(0xC1, h("f200110000"))
        + plain(0x41, h("f248cd"))
        + plain(0x80, h("c9c90700"))
        + plain(0xC1, h("000500faff48656c6c6f00"))
        + CLOSE_1000,
    },
    "api_ops": {
        # Pair: pump the handshake, send, ping, close, pump.
        "pair_chat": bytes([0x00, 13, 13, 0x01, 5])
        + b"Hello"
        + bytes([13, 13, 0x83, 2])
        + b"hi"
        + bytes([0x00, 0x01, 3])
        + b"Hel"
        + bytes([0x00, 0x03, 2])
        + b"lo"
        + bytes([13, 0x05, 0, 3])
        + b"bye"
        + bytes([13, 13, 13]),
        # Pair: partial transmits and deliveries.
        # (0x09 client transmit, 0x87 server deliver, 0x89 server transmit,
        # 0x07 client deliver, each with a byte count; 0 is all.)
        "pair_trickle": bytes([0x00, 0x09, 10, 0x87, 5, 0x09, 0, 0x87, 0])
        + bytes([0x89, 3, 0x07, 0, 0x89, 0, 0x07, 0, 0x02, 3])
        + b"abc"
        + bytes([0x09, 4, 0x87, 0, 0x09, 0, 0x87, 0, 0x88, 0x87, 0]),
        # Pair: the server sends with send_external (op 15) and writes the
        # payloads in parts; a Ping queues behind one; flag 8 copies the
        # owed rest in (buffer_external).
        "pair_external": bytes([0x00, 13, 13, 0x8F, 0x03, 5])
        + b"Hello"
        + bytes([0x89, 3, 0x07, 0, 0x89, 0, 0x07, 0, 0x8F, 0x12, 200])
        + bytes(range(200)) * 2
        + bytes([0x83, 2])
        + b"hi"
        + bytes([0x89, 7, 0x8F, 0x08, 13, 13, 0x8F, 0x00, 3])
        + b"abc"
        + bytes([0x89, 0, 0x89, 1, 0x05, 0, 0, 13, 13, 13]),
        # One open server: frames injected, then answered.
        "server_alone": bytes([0x01, 0x06, len(HELLO_MASKED)])
        + HELLO_MASKED
        + bytes([0x07, 0, 0x01, 5])
        + b"Hello"
        + bytes([0x06, len(CLOSE_1000_MASKED)])
        + CLOSE_1000_MASKED
        + bytes([0x07, 0, 0x09, 0, 0x08, 0x07, 0]),
        # One open client, small output limit, no automatic replies.
        "client_alone": bytes([0x1F, 0x02, 200])
        + bytes(200)
        + bytes([0x06, len(PING)])
        + PING
        + bytes([0x07, 0, 0x04, 5])
        + b"Hello"
        + bytes([0x05, 7, 0x0F, 0xA0, 0])
        + bytes([0x05, 0, 0, 0x09, 0]),
    },
    "round_trip": {
        # Bit 6 of the close byte: permessage-deflate on both ends (0x42 % 6
        # picks 1005, no reason); fragments and a Ping cross compressed.
        "deflate": chunks(1, 2)
        + chunks(3)
        + bytes([0x42, 0])
        + bytes([0x1E, len("h\u00e9llo h\u00e9llo h\u00e9llo".encode())])
        + "h\u00e9llo h\u00e9llo h\u00e9llo".encode()
        + bytes([2, 9, 14])
        + bytes([0x0D, 6])
        + b"Hello!"
        + bytes([3]),
        "hello": WHOLE
        + WHOLE
        + bytes([0, 3])
        + b"bye"
        + bytes([0x02, 5])
        + b"Hello"
        + bytes([0x03, 5])
        + b"Hello",
        "fragments_and_pings": chunks(1, 3)
        + chunks(2)
        + bytes([2, 0])
        + bytes([0x1E, len("h\u00e9llo w\u00f6rld \u20ac".encode())])
        + "h\u00e9llo w\u00f6rld \u20ac".encode()
        + bytes([2, 9, 14])
        + bytes([0x1D, 4])
        + b"\x00\x01\x02\x03"
        + bytes([1]),
        # The server closes (bit 7 of the close byte; 0x84 % 6 picks 1000)
        # while both still send, a Ping each way.
        "server_closes": chunks(3)
        + chunks(1)
        + bytes([0x84, 3])
        + b"bye"
        + bytes([0x12, 5])
        + b"Hello"
        + bytes([0x17, 6])
        + b"\xff\x00\x01\x02\x03\x04"
        + bytes([3, 4]),
        "binary_300": chunks(0)
        + chunks(128)
        + bytes([5, 0])
        + bytes([0x0D, 255])
        + bytes(range(255))
        + bytes([200]),
    },
}


# Deadlines (api_ops setup bit 6 keepalive, bit 7 idle; op 14 advances the
# clock by its byte x 100 ms for both sides, then handle_timeout).
PONG_EMPTY_MASKED = masked(0x8A, b"")
SEED_SETS["api_ops"].update(
    {
        # One server, output limit 300, keepalive: its Pings answered by
        # Pongs from the input, then one left unanswered (1011).
        "keepalive_server": bytes([0x45, 0x02, 255])
        + bytes(range(255))
        + (bytes([14, 31, 0x06, len(PONG_EMPTY_MASKED)]) + PONG_EMPTY_MASKED + bytes([0x07, 0])) * 2
        + bytes([14, 31, 14, 21, 0x07, 0, 0x09, 0]),
        # One client with an idle timeout: Close 1001, then the close
        # deadline passes without the server's Close.
        "idle_client": bytes([0x83, 14, 51, 0x09, 0, 14, 41, 0x07, 0, 0x09, 0]),
        # A pair with keepalive: Pings answered across the wire.
        "pair_keepalive": bytes([0x40, 13, 13, 14, 31, 13, 13, 14, 31, 13, 13, 13]),
        # A pair whose handshake never completes in time (10 s).
        "pair_handshake_deadline": bytes([0x00, 0x09, 20, 0x87, 0, 14, 101, 13, 13]),
    }
)

# server_handshake option bit 5: the handshake deadline passes after the
# stream (408 for an incomplete request, nothing once decided).
SEED_SETS["server_handshake"].update(
    {
        "deadline_partial": b"\x20" + WHOLE + RFC_REQUEST[:40],
        "deadline_after_accept": b"\x20" + WHOLE + RFC_REQUEST + HELLO_MASKED,
    }
)

# fixed_storage: the same layout as server_handshake / client_response;
# option bit 0 picks the client role, bits 1-4 are fixed_storage's own
# (fuzz/src/fixed_storage.rs), so the copies keep only the stream and the split.
SEED_SETS["fixed_storage"] = {
    **{
        "server_" + name: bytes([data[0] & 0b11110]) + data[1:]
        for name, data in SEED_SETS["server_handshake"].items()
    },
    **{
        "client_" + name: bytes([(data[0] & 0b11110) | 1]) + data[1:]
        for name, data in SEED_SETS["client_response"].items()
    },
}


def main() -> None:
    for target, seeds in SEED_SETS.items():
        folder = os.path.join(SEEDS, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name, data in seeds.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    total = sum(len(s) for s in SEED_SETS.values())
    print(f"wrote {total} seeds for {len(SEED_SETS)} targets under {SEEDS}")


if __name__ == "__main__":
    main()
