// Node `ws` as an echo server for hybi's client.
//
// Usage: node echo_server.js PORT [MODE]   (PORT 0 picks a free port)
//
// MODE sets its permessage-deflate (RFC 7692) side:
//   off     (default) ws's default for a server: no perMessageDeflate, so
//           an offer is declined;
//   on      perMessageDeflate with threshold 0 (every message compressed);
//   params  the same with serverMaxWindowBits 11 and clientMaxWindowBits 10
//           (and whatever hybi's offer asks, such as
//           server_no_context_takeover);
//   window8 serverMaxWindowBits 8 and clientMaxWindowBits 8: hybi may not
//           compress (it cannot with a 256-byte window); Node's zlib, asked
//           for an 8-bit raw window, silently uses 9 bits, which hybi
//           inflates anyway.
//
// Listens on 127.0.0.1 and prints, one line each:
//   "ready PORT"             once listening;
//   "open PATH SUBPROTOCOL EXTENSIONS"
//                            per connection: the agreed subprotocol and its
//                            101's Sec-WebSocket-Extensions ("-" for none);
//   "closed CODE REASON"     when a connection ends: the code and reason of
//                            the close frame it received (ws reports 1005
//                            for an empty one, 1006 for none).
// Echoes every data message with its type, and obeys these text commands:
//   "cmd:close CODE REASON"  closes with that code and reason;
//   "cmd:ping PAYLOAD"       pings with PAYLOAD and, on the pong, sends
//                            "pong-received PAYLOAD";
//   "cmd:fragments"          sends "split 中文 😀" in four text fragments
//                            (boundaries inside two characters, a ping
//                            between the second and third);
//   "cmd:fragments-big"      sends compressible(1 MiB) in 16 fragments.
// Supports the subprotocol "echo.hybi". Exits when its standard input
// closes (the test holds the other end) or after DEADLINE_MS.
import { WebSocketServer } from 'ws';

const DEADLINE_MS = 300_000;
const utf8 = (s) => Buffer.from(s, 'utf8');
const zhong = utf8('中');
const FRAGMENTS = [
  utf8('split '),
  zhong.subarray(0, 2),
  Buffer.concat([zhong.subarray(2), utf8('文 😀').subarray(0, -2)]),
  utf8('😀').subarray(-2),
];

/** n bytes of repetitive ASCII text (the same in every peer script). */
function compressible(n) {
  const line = 'The quick brown fox jumps over the lazy dog. ';
  return line.repeat(Math.ceil(n / line.length) + 1).slice(0, n);
}

const MODES = {
  off: false,
  on: { threshold: 0 },
  params: { threshold: 0, serverMaxWindowBits: 11, clientMaxWindowBits: 10 },
  window8: { threshold: 0, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
};
const mode = process.argv[3] ?? 'off';
if (!(mode in MODES)) throw new Error(`unknown mode ${mode}`);

const say = (line) => process.stdout.write(`${line}\n`);

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.argv[2] ?? 0),
  maxPayload: 32 << 20,
  perMessageDeflate: MODES[mode],
  handleProtocols: (offered) => (offered.has('echo.hybi') ? 'echo.hybi' : false),
});

wss.on('listening', () => say(`ready ${wss.address().port}`));

// The 101's headers, for the "open" line.
wss.on('headers', (headers, request) => {
  const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  request.extensionsAnswer = line ? line.slice(line.indexOf(':') + 1).trim() : '-';
});

wss.on('connection', (ws, request) => {
  say(`open ${request.url} ${ws.protocol || '-'} ${request.extensionsAnswer}`);
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text === null || !text.startsWith('cmd:')) {
      ws.send(data, { binary: isBinary });
      return;
    }
    const space = text.indexOf(' ');
    const command = space < 0 ? text.slice(4) : text.slice(4, space);
    const arg = space < 0 ? '' : text.slice(space + 1);
    if (command === 'close') {
      const split = arg.indexOf(' ');
      ws.close(Number(arg.slice(0, split)), arg.slice(split + 1));
    } else if (command === 'ping') {
      ws.once('pong', (payload) => ws.send(`pong-received ${payload.toString('utf8')}`));
      ws.ping(utf8(arg));
    } else if (command === 'fragments') {
      ws.send(FRAGMENTS[0], { binary: false, fin: false });
      ws.send(FRAGMENTS[1], { binary: false, fin: false });
      ws.ping(utf8('between fragments'));
      ws.send(FRAGMENTS[2], { binary: false, fin: false });
      ws.send(FRAGMENTS[3], { binary: false, fin: true });
    } else if (command === 'fragments-big') {
      const big = compressible(1 << 20);
      const step = big.length / 16;
      for (let i = 0; i < 16; i++) ws.send(big.slice(i * step, (i + 1) * step), { fin: i === 15 });    } else {
      ws.send(`unknown command ${command}`);
    }
  });
  ws.on('close', (code, reason) => say(`closed ${code} ${reason.toString('utf8')}`));
  ws.on('error', (error) => say(`error ${error.message}`));
});

process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
setTimeout(() => process.exit(2), DEADLINE_MS).unref();
