// Headless Chromium in the chat example (examples/chat.rs): two pages join
// under different names, see each other in the member list (Bob's from the
// welcome, Ada's from the join event, whose count #activity shows), exchange
// messages both ways (one by the Send button, one by Enter), a long one
// (the chat's limit of 500 characters of repetitive text, non-ASCII
// included) arrives whole, a taken name is refused with an error, and one
// page leaves. Asserts what each page shows, what the server printed, and
// that hybi ACCEPTED Chromium's permessage-deflate offer (the offer is in
// the request, the 101 answers Sec-WebSocket-Extensions: permessage-deflate,
// `ws.extensions` in the page names it) and compressed: the pages reach the
// server through a byte-counting TCP relay here, and the long message takes
// far fewer bytes than its text, both ways. Saves screenshots under
// target/interop/.
//
// Usage: node tests/interop/browser_chat.mjs   (after `cargo build --features tokio --example chat`)
// Environment: CARGO_TARGET_DIR (default: target), CHROMIUM (default:
// /usr/bin/chromium).
//
// Starts the chat binary itself on a free port and ends it (by its own
// handle), the relay and the browser when done, on failure too; a deadline ends
// everything if something hangs. Exits non-zero on any failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
const CHAT = path.join(TARGET, 'debug/examples/chat');
const SHOTS = path.join(TARGET, 'interop');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const DEADLINE_MS = 120_000;
const WAIT_MS = 10_000;
// What this machine's Chromium needs: no sandbox as root, and no background
// traffic (only loopback is reachable). Playwright adds --headless and a
// fresh temporary --user-data-dir of its own.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let passed = 0;
function ok(what) {
  passed += 1;
  console.log(`ok: ${what}`);
}

// ---------------------------------------------------------------------------
// The chat server, started and ended here.

let server = null;
const serverLines = [];

function startServer() {
  if (!existsSync(CHAT)) throw new Error(`${CHAT} is missing: run cargo build --features tokio --example chat first`);
  server = spawn(CHAT, ['127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buffered = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the chat server printed no address')), WAIT_MS);
    server.on('error', reject);
    server.on('exit', (code, signal) => reject(new Error(`the chat server exited early (${code ?? signal})`)));
    server.stderr.on('data', (chunk) => process.stderr.write(`chat stderr: ${chunk}`));
    server.stdout.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        serverLines.push(line);
        const found = /^chat room on (http:\/\/\S+\/)$/.exec(line);
        if (found) {
          clearTimeout(timer);
          resolve(found[1]);
        }
      }
    });
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------
// A TCP relay between the pages and the chat server that counts the bytes
// each way, so the test sees what crossed the wire (compressed or not).

const wire = { up: 0, down: 0 };
let relay = null;
const relayed = new Set();

function startRelay(target) {
  const { hostname, port } = new URL(target);
  relay = net.createServer((page) => {
    const chat = net.connect(Number(port), hostname);
    relayed.add(page).add(chat);
    const end = () => {
      page.destroy();
      chat.destroy();
      relayed.delete(page);
      relayed.delete(chat);
    };
    page.on('data', (chunk) => {
      wire.up += chunk.length;
    });
    chat.on('data', (chunk) => {
      wire.down += chunk.length;
    });
    page.pipe(chat);
    chat.pipe(page);
    for (const socket of [page, chat]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  return new Promise((resolve, reject) => {
    relay.once('error', reject);
    relay.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${relay.address().port}/`));
  });
}

function stopRelay() {
  for (const socket of relayed) socket.destroy();
  relayed.clear();
  if (relay) relay.close();
}

async function serverSaid(line) {
  const end = Date.now() + WAIT_MS;
  while (!serverLines.includes(line)) {
    if (Date.now() > end) throw new Error(`the server never printed ${JSON.stringify(line)}; it printed:\n${serverLines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  ok(`server printed ${JSON.stringify(line)}`);
}

// ---------------------------------------------------------------------------
// Pages.

/** Opens the chat in a fresh context, recording its WebSockets and their handshakes. */
async function openPage(browser, url, label) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  // Keep every WebSocket the page creates, whatever the page calls it.
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
      }
    };
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`${label} page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`${label} console: ${message.text()}`);
  });
  // The handshake as Chromium saw it, from the DevTools protocol.
  const handshakes = { requests: [], responses: [] };
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => handshakes.requests.push(e.request.headers));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => handshakes.responses.push(e.response));
  const response = await page.goto(url);
  assert.equal(response.status(), 200, `${label}: GET / status`);
  return { page, context, label, handshakes };
}

async function waitFor({ page, label }, what, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: WAIT_MS });
  } catch (error) {
    throw new Error(`${label}: ${what}: ${error.message.split('\n')[0]}`);
  }
}

const text = (p, selector) => p.page.locator(selector).textContent();
const members = (p) => p.page.$$eval('ul#members li', (items) => items.map((li) => li.textContent));
const logLines = (p) => p.page.$$eval('#log > *', (items) => items.map((item) => item.textContent));
const visible = (p, selector) => p.page.locator(selector).isVisible();

async function join(p, name) {
  await p.page.fill('#name', name);
  await p.page.click('#join');
}

async function expectRoom(p, names) {
  const want = [...names].sort();
  await waitFor(
    p,
    `member list ${want.join(', ')}`,
    (want) => {
      const got = [...document.querySelectorAll('ul#members li')].map((li) => li.textContent).sort();
      return JSON.stringify(got) === JSON.stringify(want) && document.getElementById('count').textContent === String(want.length);
    },
    want,
  );
  assert.deepEqual((await members(p)).sort(), want);
  assert.equal(await text(p, '#count'), String(want.length));
  ok(`${p.label} shows ${want.length} online: ${want.join(', ')}`);
}

async function expectLog(p, lines) {
  await waitFor(p, `${lines.length} messages`, (n) => document.querySelectorAll('#log > *').length >= n, lines.length);
  const got = await logLines(p);
  assert.equal(got.length, lines.length, `${p.label} log: ${JSON.stringify(got)}`);
  lines.forEach((line, i) => assert.ok(got[i].includes(line), `${p.label} log[${i}] = ${JSON.stringify(got[i])}, wanted ${JSON.stringify(line)}`));
  ok(`${p.label} log shows ${JSON.stringify(lines)}`);
}

/** The page's last presence event, as #activity shows it. */
async function expectActivity(p, line) {
  await waitFor(p, `activity ${JSON.stringify(line)}`, (line) => document.getElementById('activity').textContent === line, line);
  ok(`${p.label} shows ${JSON.stringify(line)}`);
}

/** The page's open WebSocket: permessage-deflate, no subprotocol; the 101 accepted the offer. */
async function expectDeflate(p) {
  const sockets = await p.page.evaluate(() =>
    window.__sockets.map((ws) => ({ url: ws.url, readyState: ws.readyState, extensions: ws.extensions, protocol: ws.protocol })),
  );
  const open = sockets.filter((ws) => ws.readyState === 1);
  assert.equal(open.length, 1, `${p.label} open sockets: ${JSON.stringify(sockets)}`);
  assert.match(open[0].extensions, /^permessage-deflate/, `${p.label} ws.extensions`);
  assert.equal(open[0].protocol, '', `${p.label} ws.protocol`);
  ok(`${p.label}: ws.extensions === ${JSON.stringify(open[0].extensions)} on ${open[0].url}`);

  const lower = (headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const request = lower(p.handshakes.requests.at(-1) ?? {});
  const response = p.handshakes.responses.at(-1);
  assert.ok(/permessage-deflate/.test(request['sec-websocket-extensions'] ?? ''), `${p.label} offered: ${JSON.stringify(request)}`);
  assert.ok(response, `${p.label}: no handshake response seen`);
  assert.equal(response.status, 101);
  const answer = lower(response.headers)['sec-websocket-extensions'];
  assert.match(answer ?? '', /^permessage-deflate/, `${p.label} 101 headers: ${JSON.stringify(response.headers)}`);
  ok(`${p.label}: offered ${JSON.stringify(request['sec-websocket-extensions'])}, the 101 accepted: ${JSON.stringify(answer)}`);
}

// ---------------------------------------------------------------------------

async function run(browser, url) {
  const ada = await openPage(browser, url, 'Ada');
  const bob = await openPage(browser, url, 'Bob');

  await join(ada, 'Ada');
  await expectRoom(ada, ['Ada']);
  assert.equal(await text(ada, '#error'), '');
  await serverSaid('Ada joined');

  // A name taken (ignoring case) is refused, and the page stays in the lobby.
  await join(bob, 'ada');
  await waitFor(bob, 'an error for a taken name', () => document.getElementById('error').textContent.trim() !== '');
  assert.ok(await visible(bob, '#name'), 'Bob is still in the lobby');
  ok(`Bob's page refuses a taken name: ${JSON.stringify(await text(bob, '#error'))}`);

  await join(bob, 'Bob');
  await expectRoom(bob, ['Ada', 'Bob']);
  await expectRoom(ada, ['Ada', 'Bob']);
  assert.equal(await text(bob, '#error'), '', 'the error is cleared on joining');
  await serverSaid('Bob joined');
  await expectActivity(ada, 'Bob joined · 2 online');
  await expectDeflate(ada);
  await expectDeflate(bob);

  // Ada sends with the button, Bob with Enter; non-ASCII both ways.
  await ada.page.fill('#message', 'Hello Bob — héllo, 你好');
  await ada.page.click('#send');
  await expectLog(bob, ['Ada: Hello Bob — héllo, 你好']);
  await bob.page.fill('#message', 'Hi Ada 😀');
  await bob.page.press('#message', 'Enter');
  const both = ['Ada: Hello Bob — héllo, 你好', 'Bob: Hi Ada 😀'];
  await expectLog(ada, both);
  await expectLog(bob, both);
  assert.equal(await ada.page.inputValue('#message'), '', 'the input is cleared after sending');

  // A long message, the chat's limit of 500 characters, repetitive (a
  // chat's text is): whole on both pages, and compressed on the wire both
  // ways. Uncompressed, Ada's frame alone would be over 560 bytes and the
  // two copies sent back over 1,100.
  const long = 'Deflate me — ünïcödé, 你好. '.repeat(20).slice(0, 500);
  assert.equal(long.length, 500);
  const before = { ...wire };
  await ada.page.fill('#message', long);
  await ada.page.click('#send');
  const three = [...both, `Ada: ${long}`];
  await expectLog(ada, three);
  await expectLog(bob, three);
  const up = wire.up - before.up;
  const down = wire.down - before.down;
  const raw = Buffer.byteLength(long);
  console.log(`the ${raw}-byte message crossed the wire in ${up} bytes up, ${down} bytes down (two copies)`);
  assert.ok(up < raw / 2 && down < raw, `not compressed: ${up} up, ${down} down for ${raw} bytes of text`);
  ok(`the long message arrived whole on both pages, compressed: ${up} bytes up, ${down} down for ${raw} bytes of text`);

  mkdirSync(SHOTS, { recursive: true });
  await ada.page.screenshot({ path: path.join(SHOTS, 'chat-ada.png') });
  await bob.page.screenshot({ path: path.join(SHOTS, 'chat-bob.png') });

  // Bob leaves: his page is back in the lobby, Ada sees one member.
  await bob.page.click('#leave');
  await waitFor(bob, 'back in the lobby', () => !document.getElementById('name').closest('[hidden]'));
  assert.ok(await visible(bob, '#name'));
  assert.ok(!(await visible(bob, '#message')));
  assert.equal(await text(bob, '#error'), '', 'no error after leaving');
  ok("Bob's page is back in the lobby, with no error");
  await expectRoom(ada, ['Ada']);
  await expectActivity(ada, 'Bob left · 1 online');
  await serverSaid('Bob left');
  await expectLog(ada, three);
  const adaOpen = await ada.page.evaluate(() => window.__sockets.filter((ws) => ws.readyState === 1).length);
  assert.equal(adaOpen, 1, "Ada's socket stays open");
  ok("Ada's socket stays open after Bob left");
  await ada.page.screenshot({ path: path.join(SHOTS, 'chat-after-leave.png') });
  console.log(`screenshots: ${SHOTS}/chat-ada.png, chat-bob.png, chat-after-leave.png`);
}

async function main() {
  let browser = null;
  let failed = false;
  const deadline = setTimeout(async () => {
    console.log(`FAIL: deadline of ${DEADLINE_MS / 1000} s`);
    if (server) server.kill('SIGKILL');
    process.exit(3);
  }, DEADLINE_MS);
  try {
    const direct = await startServer();
    ok(`chat server listening on ${direct}`);
    const url = await startRelay(direct);
    ok(`pages reach it through a byte-counting relay at ${url}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    await run(browser, url);
  } catch (error) {
    failed = true;
    console.log(`FAIL: ${error.stack ?? error}`);
    console.log(`server output:\n${serverLines.join('\n')}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    stopRelay();
    await stopServer();
    clearTimeout(deadline);
  }
  console.log(`browser: ${passed} passed, ${failed ? 1 : 0} failed`);
  process.exit(failed ? 1 : 0);
}

await main();
