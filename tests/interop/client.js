// Node `ws` as a client against hybi's echo server.
//
// Usage: node client.js URL MODE
//
// MODE says what hybi's server was told about permessage-deflate (RFC 7692),
// and so what this client offers and expects:
//   off     ws's default offer, which hybi (deflate off) declines;
//   on      perMessageDeflate with threshold 0 (every message compressed),
//           accepted: both sides compress;
//   params  a non-default offer (serverMaxWindowBits 10, clientMaxWindowBits
//           12, clientNoContextTakeover), accepted as asked;
//   window8 an offer of serverMaxWindowBits 8, accepted: hybi cannot
//           compress with a 256-byte window, so it sends uncompressed while
//           this client compresses.
// With deflate on (on, params, window8) it also sends an empty text first, measures
// the bytes hybi's server counts on the TCP stream ("cmd:wire") around large
// compressible messages (1 MiB of JSON, 16 MiB of repetitive text, 1 MiB of
// text in 16 fragments: far fewer bytes than the payload, both ways) and an
// incompressible one (1 MiB random: no fewer; with window8, hybi's side is
// never fewer), and receives 1 MiB of
// compressible text that hybi sends in 16 compressed fragments.
//
// Started by tests/interop.rs, whose server echoes every data message and
// obeys these text commands:
//   "cmd:close CODE REASON"  it closes with that code and reason;
//   "cmd:ping PAYLOAD"       it pings with PAYLOAD and, on the pong, sends
//                            "pong-received PAYLOAD";
//   "cmd:fragments"          it sends "split 中文 😀" in four text fragments
//                            whose boundaries cut two characters in half;
//   "cmd:wire"               it answers "wire READ WRITTEN": the bytes it has
//                            read and written on this TCP connection so far;
//   "cmd:fragments-big"      it sends compressible(1 MiB) in 16 fragments.
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

/** n bytes of repetitive ASCII text (the same in every peer script). */
function compressible(n) {
  const line = 'The quick brown fox jumps over the lazy dog. ';
  return line.repeat(Math.ceil(n / line.length) + 1).slice(0, n);
}

/** About n bytes of JSON: an array of similar records. */
function jsonText(n) {
  const records = [];
  let size = 2;
  for (let i = 0; size < n; i++) {
    const record = `{"id":${i},"name":"user-${i}","active":${i % 3 === 0},"tags":["a","b"]}`;
    records.push(record);
    size += record.length + 1;
  }
  return `[${records.join(',')}]`;
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
  ws.on('upgrade', (response) => {
    ws.extensionsHeader = response.headers['sec-websocket-extensions'];
  });
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

const OFFERS = {
  // ws offers permessage-deflate by default.
  off: {},
  on: { perMessageDeflate: { threshold: 0 } },
  params: {
    perMessageDeflate: { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 12, clientNoContextTakeover: true },
  },
  window8: { perMessageDeflate: { threshold: 0, serverMaxWindowBits: 8 } },
};
const ANSWERS = {
  on: ['permessage-deflate', {}],
  params: [
    'permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12',
    { client_no_context_takeover: true, server_max_window_bits: 10, client_max_window_bits: 12 },
  ],
  window8: ['permessage-deflate; server_max_window_bits=8', { server_max_window_bits: 8 }],
};

function checkNegotiated(ws, mode) {
  if (mode === 'off') {
    check(ws.extensions === '' && ws.extensionsHeader === undefined, 'permessage-deflate offer declined (no extension)');
    return;
  }
  const [header, params] = ANSWERS[mode];
  check(ws.extensionsHeader === header, `hybi's 101 accepts permessage-deflate: ${ws.extensionsHeader}`);
  check(ws.extensions === 'permessage-deflate', `extensions in use: ${ws.extensions}`);
  // ws keeps the accepted parameters on its extension object.
  const got = ws._extensions['permessage-deflate'].params;
  check(JSON.stringify(got) === JSON.stringify(params), `agreed parameters: ${JSON.stringify(got)}`);
}

/** The bytes hybi's server has read and written on this connection. */
async function wire(ws) {
  ws.send('cmd:wire');
  const event = await ws.expect('message');
  const [word, read, written] = event.data.toString('utf8').split(' ');
  if (word !== 'wire') fail(`cmd:wire answered ${word}`);
  return [Number(read), Number(written)];
}

/**
 * Sends `fragments` as one message, checks the echo equals `whole`; returns
 * the bytes hybi's server read (our message, compressed) and wrote (its
 * echo) for it, give or take one cmd:wire and its answer.
 */
async function measuredEcho(ws, fragments, whole, what) {
  const [read0, written0] = await wire(ws);
  const binary = Buffer.isBuffer(whole);
  fragments.forEach((fragment, i) => ws.send(fragment, { binary, fin: i === fragments.length - 1 }));
  const event = await ws.expect('message');
  const same = binary ? event.isBinary && whole.equals(event.data) : !event.isBinary && event.data.toString('utf8') === whole;
  check(same, `${what} echoed`);
  const [read1, written1] = await wire(ws);
  return [read1 - read0, written1 - written0];
}

/**
 * Large payloads with compression on: the wire must show it. hybi's side
 * (written) is compressed unless it may not (window8).
 */
async function deflateChecks(ws, hybiCompresses) {
  const n = 1 << 20;
  const small = (read, written, limit, what) =>
    hybiCompresses
      ? check(read < limit && written < limit, `${what} compressed both ways: ${read} bytes in, ${written} out`)
      : check(read < limit && written >= limit, `${what} compressed by us only: ${read} bytes in, ${written} out`);
  let text = jsonText(n);
  let [read, written] = await measuredEcho(ws, [text], text, `${text.length} bytes of JSON`);
  small(read, written, text.length / 3, 'JSON');

  text = compressible(16 << 20);
  [read, written] = await measuredEcho(ws, [text], text, '16 MiB of repetitive text');
  small(read, written, text.length / 20, '16 MiB');

  text = compressible(n);
  const chunks = Array.from({ length: 16 }, (_, i) => text.slice((i * n) / 16, ((i + 1) * n) / 16));
  [read, written] = await measuredEcho(ws, chunks, text, '1 MiB of text in 16 fragments');
  small(read, written, n / 20, 'fragmented text');

  const data = payload(n);
  [read, written] = await measuredEcho(ws, [data], data, '1 MiB of random bytes');
  check(read >= n && written >= n, `random bytes stay their size on the wire: ${read} bytes in, ${written} out`);

  ws.send('cmd:fragments-big');
  check(isText(await ws.next(), text), "hybi's 1 MiB in 16 compressed fragments received whole");
}

async function mainConnection(url, mode) {
  const ws = open(url, ['nope', PROTOCOL], OFFERS[mode]);
  await ws.expect('open');
  check(ws.protocol === PROTOCOL, `subprotocol negotiated: ${JSON.stringify(ws.protocol)}`);
  checkNegotiated(ws, mode);
  if (mode !== 'off') {
    // The first data message: hybi's report shows how it was framed.
    ws.send('');
    check(isText(await ws.next(), ''), 'empty text echoed');
  }

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

  if (mode !== 'off') await deflateChecks(ws, mode !== 'window8');

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

const [url, mode] = process.argv.slice(2);
if (!url || !(mode in OFFERS)) fail('usage: node client.js URL off|on|params|window8');
setTimeout(() => {
  console.log('FAIL: deadline');
  process.exit(3);
}, DEADLINE_MS).unref();
try {
  await mainConnection(url, mode);
  await secondConnection(url);
  console.log('PASS');
  process.exit(0);
} catch (error) {
  fail(error.stack ?? String(error));
}
