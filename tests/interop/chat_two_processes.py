"""Two chat processes, one room, through a real Redis (issue 15's CI check).

Usage: python3 chat_two_processes.py CHAT_BINARY REDIS_URL

Starts `CHAT_BINARY ADDR --redis REDIS_URL` twice on free loopback ports
(separate processes), joins Ada on the first and Bob on the second with
Python `websockets`, and checks that each sees the other's join, that a
message from Bob reaches Ada and one from Ada reaches Bob, and that Ada sees
Bob leave. Exits non-zero with the reason on any failure; both chat
processes are stopped at the end either way.
"""

import asyncio
import json
import signal
import socket
import subprocess
import sys

import websockets

TIMEOUT = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_for_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit(f"chat on {port} exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit(f"chat on {port} never listened")


async def next_of(ws, kind, **fields):
    """The next server message of `kind` with these fields, skipping others."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if msg.get("type") == kind and all(msg.get(k) == v for k, v in fields.items()):
            return msg


async def join(port, name):
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}"
    )
    await ws.send(json.dumps({"type": "join", "name": name}))
    welcome = await next_of(ws, "welcome")
    return ws, welcome


async def check(port_a, port_b):
    ada, welcome = await join(port_a, "Ada")
    assert welcome["name"] == "Ada", welcome
    bob, welcome = await join(port_b, "Bob")
    # Bob's welcome (from process B) lists Ada (who joined on process A).
    assert "Ada" in welcome["members"], welcome
    assert welcome["count"] == 2, welcome
    # Ada (on A) sees Bob's join (on B), with the count.
    joined = await next_of(ada, "presence", event="join", name="Bob")
    assert joined["count"] == 2, joined
    print("ok: a join crossed from process B to process A")
    await bob.send(json.dumps({"type": "message", "text": "hello from B, 你好"}))
    got = await next_of(ada, "message", text="hello from B, 你好")
    print(f"ok: a message crossed from B to A: {got}")
    await ada.send(json.dumps({"type": "message", "text": "hello from A"}))
    await next_of(bob, "message", text="hello from A")
    print("ok: a message crossed from A to B")
    await bob.close()
    left = await next_of(ada, "presence", event="leave", name="Bob")
    assert left["count"] == 1, left
    print("ok: a leave crossed from B to A")
    await ada.close()


def main():
    binary, redis_url = sys.argv[1], sys.argv[2]
    port_a, port_b = free_port(), free_port()
    procs = [
        subprocess.Popen([binary, f"127.0.0.1:{port}", "--redis", redis_url])
        for port in (port_a, port_b)
    ]
    try:
        async def run():
            await wait_for_port(port_a, procs[0])
            await wait_for_port(port_b, procs[1])
            await asyncio.wait_for(check(port_a, port_b), 4 * TIMEOUT)

        asyncio.run(run())
        print("chat over Redis, two processes: all checks passed")
    finally:
        # Ctrl-C: the chat's clean stop (its Redis keys deleted).
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
