// The reference chat for the chat bench (perf/src/bin/chat.rs): Node's `ws`
// speaking the protocol of examples/chat.rs (join, message; welcome with the
// member list and count, presence events with the count, messages, errors),
// written the way the ws README broadcasts: one JSON.stringify per event,
// then `send` to every open client. The text is encoded to a Buffer once per
// event (a small favour to Node: `send(string)` would encode per client).
// ws queues without bound for a slow client, and drops nobody.
//
// Usage: node server.js [ADDR] [--deflate]
//   ADDR       127.0.0.1:8080 by default; port 0 picks a free one
//   --deflate  accept permessage-deflate (ws compresses per client, with
//              context takeover; threshold 64 bytes, as hybi's chat)
// Prints "chat room on http://HOST:PORT/" once listening. Exits when its
// standard input closes (the bench closes it), or after 20 minutes.
'use strict';
const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');

const args = process.argv.slice(2);
const deflate = args.includes('--deflate');
const addr = args.find((a) => !a.startsWith('--')) ?? '127.0.0.1:8080';
const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];

const MAX_NAME = 24;
const MAX_TEXT = 500;

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});
const wss = new WebSocketServer({
  server,
  path: '/ws',
  maxPayload: 16 * 1024,
  perMessageDeflate: deflate ? { threshold: 64 } : false,
});

const members = new Map(); // ws -> name
const names = new Set(); // lowercased

function encode(object) {
  return Buffer.from(JSON.stringify(object));
}

function broadcast(object, skip) {
  const data = encode(object);
  for (const ws of members.keys()) {
    if (ws !== skip && ws.readyState === WebSocket.OPEN) ws.send(data, { binary: false });
  }
}

function error(ws, text) {
  ws.send(encode({ type: 'error', text }), { binary: false });
}

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (isBinary) return ws.close(1003, 'text messages only');
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch {
      return error(ws, 'Malformed or unknown message.');
    }
    if (msg.type === 'join' && typeof msg.name === 'string') {
      if (members.has(ws)) return error(ws, 'You have already joined.');
      const name = msg.name.trim();
      if (!name || [...name].length > MAX_NAME || /\p{Cc}/u.test(name)) return error(ws, 'Bad name.');
      if (names.has(name.toLowerCase())) return error(ws, 'That name is taken.');
      names.add(name.toLowerCase());
      members.set(ws, name);
      ws.send(encode({ type: 'welcome', name, count: members.size, members: [...members.values()] }), { binary: false });
      broadcast({ type: 'presence', event: 'join', name, count: members.size }, ws);
    } else if (msg.type === 'message' && typeof msg.text === 'string') {
      const name = members.get(ws);
      if (name === undefined) return error(ws, 'Join the room first.');
      const text = msg.text.trim();
      if ([...text].length > MAX_TEXT) return error(ws, 'Messages are at most 500 characters.');
      if (text) broadcast({ type: 'message', name, text: text.replace(/\p{Cc}/gu, ' ') });
    } else {
      error(ws, 'Malformed or unknown message.');
    }
  });
  ws.on('close', () => {
    const name = members.get(ws);
    if (name === undefined) return;
    members.delete(ws);
    names.delete(name.toLowerCase());
    broadcast({ type: 'presence', event: 'leave', name, count: members.size });
  });
  ws.on('error', (e) => console.error(`ws: ${e.message}`));
});

server.listen(port, host, () => {
  const a = server.address();
  console.log(`chat room on http://${a.address}:${a.port}/`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(2), 20 * 60 * 1000).unref();
