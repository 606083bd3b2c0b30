// Node `ws` as a client against hybi's echo server.
//
// Usage: node client.js URL
//
// Started by tests/interop.rs, whose server echoes every data message and
// obeys three text commands:
//   "cmd:close CODE REASON"  it closes with that code and reason;
//   "cmd:ping PAYLOAD"       it pings with PAYLOAD and, on the pong, sends
//                            "pong-received PAYLOAD";
//   "cmd:fragments"          it sends "split 中文 😀" in four text fragments
//                            whose boundaries cut two characters in half.
//
// Prints "ok: CHECK" per check and "PASS" at the end; exits 1 on the first
// mismatch (3 past DEADLINE_MS), so it always stops by itself.
import { WebSocket } from 'ws';

const DEADLINE_MS = 120_000;
const TIMEOUT_MS = 30_000;
const PROTOCOL = 'echo.hybi';
const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
// The longest close reason: 123 bytes of UTF-8 (a Close payload is at most 125).
const LONG_REASON = `server bye ${'✓'.repeat(37)}!`;
const TEXTS = ['hello, hybi', '你好，世界', '😀🎉🚀', 'mixed: é ß 中文 😀 end'];

function fail(what) {
  console.log(`FAIL: ${what}`);
  process.exit(1);
}

function check(cond, what) {
  if (!cond) fail(what);
  console.log(`ok: ${what}`);
}

/** n deterministic pseudo-random bytes (xorshift; a pattern would hide offset bugs). */
function payload(n) {
  const out = Buffer.alloc(n);
  let x = (n * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Opens a connection and queues its events, so checks can await them in order. */
function open(url, protocols, options) {
  const ws = new WebSocket(url, protocols, options);
  const queue = [];
  let waiter = null;
  const push = (event) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(event);
    } else {
      queue.push(event);
    }
  };
  ws.on('open', () => push({ type: 'open' }));
  ws.on('message', (data, isBinary) => push({ type: 'message', data, isBinary }));
  ws.on('pong', (data) => push({ type: 'pong', data }));
  ws.on('ping', (data) => push({ type: 'ping', data }));
  ws.on('close', (code, reason) => push({ type: 'close', code, reason: reason.toString('utf8') }));
  ws.on('error', (error) => push({ type: 'error', error }));
  ws.next = () =>
    queue.length > 0
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('timed out waiting for an event')), TIMEOUT_MS);
          waiter = (event) => {
            clearTimeout(timer);
            resolve(event);
          };
        });
  /** The next event of `type`, failing on anything else. */
  ws.expect = async (type) => {
    const event = await ws.next();
    if (event.type !== type) {
      fail(`expected ${type}, got ${event.type}: ${event.error?.message ?? event.code ?? event.data ?? ''}`);
    }
    return event;
  };
  return ws;
}

const isText = (event, text) => event.type === 'message' && !event.isBinary && event.data.toString('utf8') === text;

async function mainConnection(url) {
  // ws offers permessage-deflate by default: hybi must decline it.
  const ws = open(url, ['nope', PROTOCOL]);
  await ws.expect('open');
  check(ws.protocol === PROTOCOL, `subprotocol negotiated: ${JSON.stringify(ws.protocol)}`);
  check(ws.extensions === '', 'permessage-deflate offer declined (no extension)');

  for (const text of TEXTS) {
    ws.send(text);
    check(isText(await ws.next(), text), `text echoed: ${text}`);
  }

  for (const n of SIZES) {
    const data = payload(n);
    ws.send(data);
    const event = await ws.expect('message');
    check(event.isBinary && data.equals(event.data), `binary of ${n} bytes echoed`);
  }

  const sent = [];
  for (let i = 0; i < 1000; i++) {
    const message = i % 2 === 0 ? `pipelined ${i} 😀` : Buffer.from(`pipelined ${i}`);
    sent.push(message);
    ws.send(message);
  }
  let inOrder = true;
  for (const message of sent) {
    const event = await ws.expect('message');
    const same =
      typeof message === 'string'
        ? !event.isBinary && event.data.toString('utf8') === message
        : event.isBinary && message.equals(event.data);
    inOrder &&= same;
  }
  check(inOrder, '1,000 pipelined messages echoed in order, types kept');

  const pings = [
    Buffer.alloc(0),
    Buffer.concat([Buffer.from('ping '), Buffer.from([0, 0xff]), Buffer.from(' payload')]),
    Buffer.from(Array.from({ length: 125 }, (_, i) => i)),
  ];
  for (const data of pings) {
    ws.ping(data);
    const event = await ws.expect('pong');
    check(data.equals(event.data), `ping of ${data.length} bytes answered by a pong with the same payload`);
  }

  ws.send('cmd:ping from-hybi ✓');
  const ping = await ws.expect('ping');
  check(ping.data.toString('utf8') === 'from-hybi ✓', "hybi's ping arrived with its payload");
  check(isText(await ws.next(), 'pong-received from-hybi ✓'), "hybi's ping answered (hybi saw our pong)");

  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted 😀', { fin: true });
  check(isText(await ws.next(), 'fragmented 😀'), 'fragmented text (3 frames) echoed whole');

  ws.send(Buffer.from([0, 1]), { fin: false });
  ws.send(Buffer.alloc(0), { fin: false });
  ws.send(Buffer.from([2, 3]), { fin: true });
  const binary = await ws.expect('message');
  check(binary.isBinary && binary.data.equals(Buffer.from([0, 1, 2, 3])), 'fragmented binary with an empty fragment echoed whole');

  const cut = Buffer.from('中😀', 'utf8');
  ws.send(cut.subarray(0, 2), { binary: false, fin: false });
  ws.send(cut.subarray(2, 5), { binary: false, fin: false });
  ws.send(cut.subarray(5), { binary: false, fin: true });
  check(isText(await ws.next(), '中😀'), 'text fragments cutting UTF-8 sequences echoed whole');

  ws.send('before ', { fin: false });
  ws.ping('mid-message');
  ws.send('after', { fin: true });
  const pong = await ws.expect('pong');
  check(pong.data.toString() === 'mid-message', 'ping between fragments answered before the message ends');
  check(isText(await ws.next(), 'before after'), 'fragmented text with a ping between fragments echoed whole');

  ws.send('cmd:fragments');
  check(isText(await ws.next(), 'split 中文 😀'), "hybi's fragmented text (UTF-8 cut at boundaries) received whole");

  ws.close(4000, 'client bye ✓');
  const close = await ws.expect('close');
  check(close.code === 4000, `hybi answered our close with ${close.code} ${JSON.stringify(close.reason)}`);
}

async function secondConnection(url) {
  // No subprotocol offered, no compression offered; hybi closes first.
  const ws = open(url, [], { perMessageDeflate: false });
  await ws.expect('open');
  check(ws.protocol === '', 'no subprotocol when none offered');
  ws.send('hello again');
  check(isText(await ws.next(), 'hello again'), 'second connection echoes');
  ws.send(`cmd:close 4001 ${LONG_REASON}`);
  const close = await ws.expect('close');
  check(
    close.code === 4001 && close.reason === LONG_REASON,
    `hybi's close seen: ${close.code} with a 123-byte reason ${JSON.stringify(close.reason)}`,
  );
}

const url = process.argv[2];
if (!url) fail('usage: node client.js URL');
setTimeout(() => {
  console.log('FAIL: deadline');
  process.exit(3);
}, DEADLINE_MS).unref();
try {
  await mainConnection(url);
  await secondConnection(url);
  console.log('PASS');
  process.exit(0);
} catch (error) {
  fail(error.stack ?? String(error));
}
