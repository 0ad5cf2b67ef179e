// tests/browser/run.mjs: end-to-end test of the browser client (src/web) against the real
// chat-server and chat-client binaries, with puppeteer-core driving Debian's chromium.
// Two pages (alice, bob, each in its own browser context; bob's through a TCP relay the test
// can cut) and one scripted chat-client (carol) share #general. Checked: messages all ways,
// ticks up to "read by 2 of 2" (and not read while a tab has no focus), typing, a private
// message the third party never sees, history paging, calls (accept, decline, missed), files
// page-to-page, terminal-to-page (each received as a browser download the server feeds, the
// file in the download dir compared with the source), page-to-terminal and through the store
// (HTTP download), pause/resume/cancel, a network drop mid-transfer (session resumed, missed
// message; a transfer received the in-memory way of a server without files_key continued from
// the receiver's bytes, one received as a download failed on both pages with the reason),
// notifications, search, members, mentions, away status,
// registered names and a takeover without ping-pong, hostile text rendered as text, a server
// restart with queued messages sent once and a catch-up, a reload, log out, phone width,
// accessible names, and no CSP violation. Every wait has a deadline; on failure it saves each
// page's screenshot and console log under a temp dir and prints the paths. It ends with a
// screenshot of the page in use and a "N passed, N failed" line.
//
// Env: CHAT_SERVER, CHAT_CLIENT (binaries; default ./target/debug/...), CHROMIUM
// (/usr/bin/chromium), CHAT_BROWSER_SHOTS (where the two screenshots of a passing run go;
// default $CARGO_TARGET_DIR/browser or target/browser), CHAT_BROWSER_BRIDGE=1 (serve src/web from disk through bridge.mjs
// instead of the copy chat-server embedded when it was built), CHAT_BROWSER_KEEP=1 (keep the
// browser profile, the data dir and the files sent and downloaded).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './launch.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const SERVER = path.resolve(root, process.env.CHAT_SERVER || 'target/debug/chat-server');
const CLIENT = path.resolve(root, process.env.CHAT_CLIENT || 'target/debug/chat-client');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BRIDGE = process.env.CHAT_BROWSER_BRIDGE === '1';
const TOTAL_DEADLINE_MS = 120000;

const t0 = Date.now();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-browser-'));
const dataDir = path.join(tmp, 'data');
const artifacts = path.join(tmp, 'artifacts');
fs.mkdirSync(artifacts);
// The screenshots of a passing run go somewhere that stays (the target dir is not committed).
const shots = process.env.CHAT_BROWSER_SHOTS || path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'browser');
const children = new Set();
const pages = {}; // name -> {page, logs}
let browser = null;
let bridge = null;
let passed = 0;
let failed = 0;

function log(...a) { console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function killAll() {
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

// ---------------------------------------------------------------- processes
function track(child, name) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.lines = [];
  child.logFile = path.join(tmp, `${name}.log`);
  const out = fs.createWriteStream(child.logFile);
  const feed = (stream, tag) => {
    let rest = '';
    stream.on('data', (d) => {
      out.write(d);
      rest += d.toString();
      let i;
      while ((i = rest.indexOf('\n')) >= 0) {
        child.lines.push({ tag, line: rest.slice(0, i) });
        rest = rest.slice(i + 1);
      }
    });
  };
  if (child.stdout) feed(child.stdout, 'out');
  if (child.stderr) feed(child.stderr, 'err');
  return child;
}

async function waitLine(child, pred, ms, what) {
  const deadline = Date.now() + ms;
  const test = typeof pred === 'string' ? (l) => l.includes(pred) : (l) => pred.test(l);
  for (;;) {
    const hit = child.lines.find((l) => test(l.line));
    if (hit) return hit.line;
    if (child.exitCode !== null) throw new Error(`${what}: the process exited (${child.exitCode}) first; see ${child.logFile}`);
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms; see ${child.logFile}`);
    await sleep(25);
  }
}

let server = null;
let chatPort = 0;
async function startServer(port) {
  const c = track(spawn(SERVER, ['--port', String(port), '--data-dir', dataDir, '--ring-timeout', '3'], { stdio: ['ignore', 'pipe', 'pipe'] }), `server-${Date.now() - t0}`);
  const line = await waitLine(c, /listening on \S+:\d+/, 10000, 'chat-server start');
  chatPort = Number(line.match(/:(\d+)\s*$/)[1]);
  server = c;
  return c;
}

function startClient(name) {
  const c = track(spawn(CLIENT, ['--name', name, '--port', String(chatPort), '--room', 'general'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', CHAT_RECONNECT_BASE_MS: '100' },
  }), name);
  c.say = (line) => c.stdin.write(`${line}\n`);
  return c;
}

// ---------------------------------------------------------------- browser
async function openPage(name, reconnectBaseMs) {
  // What the page's browser downloads (files sent to it) goes to tmp/downloads/NAME.
  const downloads = path.join(tmp, 'downloads', name);
  fs.mkdirSync(downloads, { recursive: true });
  const ctx = await browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: downloads } });
  const page = await ctx.newPage();
  const logs = [];
  pages[name] = { page, logs, downloads };
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => { logs.push(`DIALOG: ${d.message()}`); d.dismiss().catch(() => {}); });
  await page.setViewport({ width: 1200, height: 800 });
  // Two pages of one browser cannot both have the focus: make each think it has.
  const cdp = await page.createCDPSession();
  await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: true });
  await page.evaluateOnNewDocument((base) => {
    localStorage.setItem('chat.reconnectBaseMs', String(base));
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  }, reconnectBaseMs);
  return page;
}

// A TCP relay in front of the server's port, whose connections the test can cut: a page
// loaded through it loses its connection (and nothing else) on cut(), as on a network drop.
// The page's origin is then the relay's, which is the Host it asks for: the server lets it in.
// holdDownloads(true) stops passing on what the server sends on a transfer's download
// (GET /transfers/...), as a browser that stops reading would: the server then grants the
// sender no more credit, so the transfer stays in progress, part way.
function startRelay(targetPort) {
  const socks = new Set();
  const downloads = new Map(); // upstream socket -> {c, held}
  let holding = false;
  const hold = (d, on) => {
    if (on === d.held) return;
    d.held = on;
    if (on) { d.u.unpipe(d.c); d.u.pause(); } else { d.u.pipe(d.c); d.u.resume(); }
  };
  const srv = net.createServer((c) => {
    const u = net.connect(targetPort, '127.0.0.1');
    const end = () => { c.destroy(); u.destroy(); socks.delete(c); socks.delete(u); downloads.delete(u); };
    for (const s2 of [c, u]) { socks.add(s2); s2.on('error', end); s2.on('close', end); }
    c.once('data', (d) => {
      if (d.toString('latin1', 0, 15) !== 'GET /transfers/') return;
      const dl = { u, c, held: false };
      downloads.set(u, dl);
      if (holding) hold(dl, true);
    });
    c.pipe(u);
    u.pipe(c);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${srv.address().port}/`,
    cut: () => { for (const s2 of socks) s2.destroy(); },
    holdDownloads: (on) => { holding = on; for (const d of downloads.values()) hold(d, on); },
    close: () => { for (const s2 of socks) s2.destroy(); srv.close(); },
  })));
}

// The file `fname` a page's browser downloaded, once complete (Chromium writes NAME.crdownload
// and renames it when done): its bytes.
async function downloaded(name, fname, size, ms = 15000) {
  const file = path.join(pages[name].downloads, fname);
  const deadline = Date.now() + ms;
  while (!fs.existsSync(file) || fs.statSync(file).size !== size) {
    if (Date.now() > deadline) throw new Error(`${name}: no complete download ${fname} of ${size} bytes within ${ms} ms (${pages[name].downloads}: ${fs.readdirSync(pages[name].downloads).join(', ') || 'empty'})`);
    await sleep(50);
  }
  return fs.readFileSync(file);
}

let webUrl = '';
let relay = null; // bob's way to the server
async function login(name, reconnectBaseMs, url = webUrl) {
  const page = await openPage(name, reconnectBaseMs);
  const res = await page.goto(url, { waitUntil: 'load', timeout: 10000 });
  const csp = res.headers()['content-security-policy'] || '';
  if (!csp.includes("script-src 'self'")) throw new Error(`GET / has no strict CSP header (got "${csp}")`);
  // The server embeds src/web at build time: a stale binary would test an old page. Each
  // script and stylesheet is named /STEM.HASH.EXT for src/web/STEM.EXT.
  const named = await page.$$eval('script[src], link[rel=stylesheet]', (es) => es.map((e) => e.getAttribute('src') || e.getAttribute('href')));
  const onDisk = fs.readdirSync(path.join(root, 'src', 'web')).filter((f) => /\.(js|css)$/.test(f));
  if (named.length !== onDisk.length) throw new Error(`the page names ${named.length} scripts and stylesheets, src/web has ${onDisk.length}: rebuild the server (cargo build)`);
  for (const href of named) {
    const m = href.match(/^\/([\w-]+)\.[0-9a-f]{16}\.(js|css)$/);
    if (!m) throw new Error(`the page names ${href}, not /STEM.HASH.EXT`);
    const file = `${m[1]}.${m[2]}`;
    const served = await (await fetch(new URL(href, url))).text();
    if (!fs.existsSync(path.join(root, 'src', 'web', file)) || served !== fs.readFileSync(path.join(root, 'src', 'web', file), 'utf8')) {
      throw new Error(`the server serves another ${file} than src/web/${file}: rebuild it (cargo build)`);
    }
  }
  await page.type('#login-name', name);
  await page.click('#login-submit');
  await waitPage(name, () => !document.getElementById('app').hidden && !!document.querySelector('#room-list [data-key="#general"]'), [], 'logged in and in #general');
  return page;
}

async function waitPage(name, fn, args, what, ms = 8000) {
  try {
    await pages[name].page.waitForFunction(fn, { timeout: ms, polling: 50 }, ...args);
  } catch (e) {
    throw new Error(`${name}: ${what}: ${e.message.split('\n')[0]}`);
  }
}

// The texts of the messages a page shows in one conversation (run in the page; no eval
// there: the CSP forbids it, and the test counts violations).
function msgTexts(key) {
  const box = document.querySelector(`.messages[data-key="${key}"]`);
  return box ? [...box.querySelectorAll('.msg .text')].map((e) => e.textContent) : [];
}

async function pageHas(name, key, text, what, ms) {
  await waitPage(name, (k, t) => {
    const box = document.querySelector(`.messages[data-key="${k}"]`);
    return !!box && [...box.querySelectorAll('.msg .text')].some((e) => e.textContent === t);
  }, [key, text], what || `shows "${text.slice(0, 40)}" in ${key}`, ms);
}

// Clicks in the page itself: the lists are redrawn often, so a handle may go stale.
async function clickIn(name, selector) {
  await waitPage(name, (sel) => !!document.querySelector(sel), [selector], `has ${selector}`);
  await pages[name].page.evaluate((sel) => document.querySelector(sel).click(), selector);
}

async function sendFromPage(name, key, text) {
  const { page } = pages[name];
  await clickIn(name, `#room-list [data-key="${key}"], #dm-list [data-key="${key}"]`);
  await page.evaluate((t) => {
    const i = document.getElementById('input');
    i.focus();
    i.value = t;
    i.dispatchEvent(new Event('input', { bubbles: true }));
  }, text);
  await page.keyboard.press('Enter');
}

// ---------------------------------------------------------------- steps
async function step(name, fn) {
  const s = Date.now();
  try {
    await fn();
    passed++;
    log(`ok   ${name} (${Date.now() - s} ms)`);
  } catch (e) {
    failed++;
    log(`FAIL ${name}: ${e.message}`);
    throw e;
  }
}

async function saveArtifacts(tag) {
  const saved = [];
  for (const [name, { page, logs }] of Object.entries(pages)) {
    const shot = path.join(artifacts, `${tag}-${name}.png`);
    const logf = path.join(artifacts, `${tag}-${name}-console.log`);
    try { await page.screenshot({ path: shot, fullPage: false }); saved.push(shot); } catch (e) { logs.push(`(screenshot failed: ${e.message})`); }
    try { logs.push(`(banner at the end: "${await page.$eval('#banner', (b) => (b.hidden ? '' : b.textContent))}")`); } catch { /* no page */ }
    fs.writeFileSync(logf, `${logs.join('\n')}\n`);
    saved.push(logf);
  }
  return saved;
}

async function main() {
  const timer = setTimeout(async () => {
    log(`FAIL the whole run took more than ${TOTAL_DEADLINE_MS / 1000} s`);
    const saved = await saveArtifacts('timeout').catch(() => []);
    for (const p of saved) log(`  saved ${p}`);
    log(`${passed} passed, ${failed + 1} failed`);
    killAll();
    process.exit(1);
  }, TOTAL_DEADLINE_MS);
  timer.unref();

  for (const bin of [SERVER, CLIENT, CHROMIUM]) if (!fs.existsSync(bin)) throw new Error(`missing ${bin}`);
  await step('chat-server starts', async () => { await startServer(0); });
  // A short ring timeout, so that a missed call takes 3 s, not 30.
  if (BRIDGE) {
    const { startBridge } = await import('./bridge.mjs');
    bridge = await startBridge({ chatPort, webDir: path.join(root, 'src', 'web') });
    webUrl = `http://127.0.0.1:${bridge.port}/`;
    log(`bridge (stand-in for the server's web side) on ${webUrl}`);
  } else {
    webUrl = `http://127.0.0.1:${chatPort}/`;
  }
  relay = await startRelay(Number(new URL(webUrl).port));

  browser = await launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: path.join(tmp, 'profile'),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    protocolTimeout: 20000,
  }, log);

  // alice reconnects only when told (a long first delay, then the banner's button), so that
  // what bob sends while she is away is a missed message, deterministically.
  await step('alice and bob log in from pages', async () => {
    await Promise.all([login('alice', 60000), login('bob', 200, relay.url)]);
  });
  const carol = startClient('carol');
  await step('carol (chat-client) logs in', async () => {
    await waitLine(carol, 'you joined #general', 8000, 'carol joins #general');
    await waitPage('alice', () => document.querySelector('.messages[data-key="#general"]').textContent.includes('carol joined'), [], 'sees carol join');
    await waitPage('bob', () => document.querySelector('.messages[data-key="#general"]').textContent.includes('carol joined'), [], 'sees carol join');
  });

  await step('messages both ways: pages and terminal in #general', async () => {
    await sendFromPage('alice', '#general', 'hello from alice');
    await pageHas('bob', '#general', 'hello from alice');
    await waitLine(carol, '#general <alice> hello from alice', 5000, 'carol gets alice');
    await sendFromPage('bob', '#general', 'hi from bob');
    await pageHas('alice', '#general', 'hi from bob');
    await waitLine(carol, '#general <bob> hi from bob', 5000, 'carol gets bob');
    carol.say('hello from carol');
    await pageHas('alice', '#general', 'hello from carol');
    await pageHas('bob', '#general', 'hello from carol');
  });

  await step('ticks of alice\'s message reach read (2 of 2)', async () => {
    carol.say('/sleep 0.05'); // a script has read what was printed before its next command
    await waitPage('alice', () => {
      const m = [...document.querySelectorAll('.messages[data-key="#general"] .msg.own')].find((e) => e.querySelector('.text').textContent === 'hello from alice');
      const t = m && m.querySelector('.ticks');
      return t && t.dataset.state === 'read' && t.title === 'read by 2 of 2';
    }, [], 'tick "read by 2 of 2" on "hello from alice"');
  });

  await step('typing appears and goes (page and terminal)', async () => {
    const { page } = pages.bob;
    await page.click('#input');
    await page.keyboard.type('typing a long th');
    await waitPage('alice', () => document.getElementById('typing').textContent === 'bob is typing…', [], 'shows "bob is typing…"');
    await page.evaluate(() => { const i = document.getElementById('input'); i.value = ''; i.dispatchEvent(new Event('input', { bubbles: true })); });
    await waitPage('alice', () => document.getElementById('typing').textContent === '', [], 'typing indicator gone after bob cleared the box');
    carol.say('/typing on');
    await waitPage('bob', () => document.getElementById('typing').textContent === 'carol is typing…', [], 'shows "carol is typing…"');
    carol.say('/typing off');
    await waitPage('bob', () => document.getElementById('typing').textContent === '', [], 'carol\'s typing gone');
  });

  await step('a private message stays private', async () => {
    const { page } = pages.alice;
    await clickIn('alice', '#people-list button[aria-label^="bob,"]');
    await waitPage('alice', () => document.getElementById('conv-name').textContent === 'bob', [], 'opened the conversation with bob');
    await sendFromPage('alice', '@bob', 'secret for bob only');
    await pageHas('bob', '@alice', 'secret for bob only');
    await waitPage('bob', () => !!document.querySelector('#dm-list [data-key="@alice"] .badge'), [], 'unread badge on @alice');
    await waitPage('alice', () => {
      const m = [...document.querySelectorAll('.messages[data-key="@bob"] .msg.own')].find((e) => e.querySelector('.text').textContent === 'secret for bob only');
      return m && m.querySelector('.ticks').dataset.state === 'delivered';
    }, [], 'DM shows delivered');
    carol.say('/sleep 0.3');
    carol.say('after the secret');
    await pageHas('alice', '#general', 'after the secret');
    if (carol.lines.some((l) => l.line.includes('secret for bob only'))) throw new Error('carol saw the private message');
    const leaked = await pages.bob.page.evaluate(msgTexts, '#general');
    if (leaked.includes('secret for bob only')) throw new Error('the private message shows in bob\'s #general');
  });

  const hostile = ['<img src=x onerror=alert(1)>', 'abc \u202Egnp.exe\u202C def \u2066x\u2069 \u200Bzw', '<script>alert(2)</script>&amp;'];
  const long = `${'long '.repeat(799)}ends`; // 4000 characters
  await step('hostile strings render as text', async () => {
    for (const h of hostile) carol.say(h);
    carol.say('/topic <b>bold</b> \u202Etopic');
    await sendFromPage('bob', '#general', long);
    await clickIn('alice', '#room-list [data-key="#general"]');
    for (const h of hostile) await pageHas('alice', '#general', h, `shows hostile ${JSON.stringify(h)} as its text`);
    await pageHas('alice', '#general', long, 'shows the 4000-character message whole');
    await waitPage('alice', () => document.getElementById('conv-topic').textContent === '<b>bold</b> \u202Etopic', [], 'topic shown as text');
    const bad = await pages.alice.page.evaluate(() => ({
      imgs: document.querySelectorAll('#app img, #app script, #conversations b, #conv-topic b').length,
      dialogs: 0,
    }));
    if (bad.imgs) throw new Error(`${bad.imgs} element(s) made from message text`);
    for (const p of Object.values(pages)) if (p.logs.some((l) => l.startsWith('DIALOG'))) throw new Error('a dialog opened (script ran)');
  });

  await step('history: older messages load when scrolling up', async () => {
    carol.say('/join hist');
    await waitLine(carol, 'you joined #hist', 5000, 'carol joins #hist');
    for (let i = 1; i <= 70; i++) carol.say(`h${i}`);
    await waitLine(carol, { test: () => carol.lines.filter((l) => l.line.includes('sent to #hist')).length >= 70 }, 15000, 'carol\'s 70 messages sent');
    await clickIn('alice', '#join-name');
    await pages.alice.page.type('#join-name', 'hist');
    await pages.alice.page.keyboard.press('Enter');
    await waitPage('alice', () => document.getElementById('conv-name').textContent === '#hist', [], 'switched to #hist');
    await pageHas('alice', '#hist', 'h70');
    const first = await pages.alice.page.evaluate(msgTexts, '#hist');
    if (first.length >= 70 || first[first.length - 1] !== 'h70') throw new Error(`first page of history: ${first.length} messages, last ${first[first.length - 1]}`);
    await pages.alice.page.evaluate(() => { document.querySelector('.messages[data-key="#hist"]').scrollTop = 0; });
    await waitPage('alice', () => !!document.querySelector('.messages[data-key="#hist"] .sys.start'), [], 'reached the beginning of #hist');
    const all = await pages.alice.page.evaluate(msgTexts, '#hist');
    const want = Array.from({ length: 70 }, (_, i) => `h${i + 1}`);
    if (JSON.stringify(all) !== JSON.stringify(want)) throw new Error(`#hist shows ${all.length} messages: ${all.slice(0, 5).join(',')}...`);
    carol.say('/switch general');
  });

  await step('calls: ring, accept, hang up; decline; missed', async () => {
    await clickIn('alice', '#dm-list [data-key="@bob"]');
    await clickIn('alice', '#call-voice');
    await waitPage('bob', () => !document.getElementById('call-dialog').hidden && document.getElementById('call-dialog-text').textContent === 'alice is calling you (voice).', [], 'incoming call dialog');
    await waitPage('alice', () => /Calling bob/.test(document.getElementById('call-text').textContent), [], 'shows the call ringing');
    await clickIn('bob', '#call-accept');
    await waitPage('alice', () => /In a call with bob/.test(document.getElementById('call-text').textContent), [], 'call connected');
    await waitPage('bob', () => /In a call with alice/.test(document.getElementById('call-text').textContent) && document.getElementById('call-dialog').hidden, [], 'call connected');
    await clickIn('alice', '#call-hangup');
    await waitPage('bob', () => document.getElementById('call-bar').hidden && document.querySelector('.messages[data-key="@alice"]').textContent.includes('Call with alice ended (alice hung up)'), [], 'call ended by alice');
    carol.say('/call bob');
    await waitPage('bob', () => document.getElementById('call-dialog-text').textContent === 'carol is calling you (voice).', [], 'carol\'s call rings');
    await clickIn('bob', '#call-decline');
    await waitLine(carol, /call with bob ended: declined by bob/, 5000, 'carol told bob declined');
    // Busy: bob is being rung by carol when alice calls him.
    carol.say('/call bob');
    await waitPage('bob', () => !document.getElementById('call-dialog').hidden, [], 'carol\'s second call rings');
    await clickIn('alice', '#call-voice');
    await waitPage('alice', () => document.querySelector('.messages[data-key="@bob"]').textContent.includes('bob is busy in another call'), [], 'told bob is busy');
    await clickIn('bob', '#call-decline');
    await waitPage('bob', () => document.getElementById('call-dialog').hidden, [], 'dialog closed');
    carol.say('/call alice');
    await waitPage('alice', () => !document.getElementById('call-dialog').hidden, [], 'carol\'s call rings');
    await waitPage('alice', () => document.getElementById('call-dialog').hidden && document.querySelector('.messages[data-key="@carol"]').textContent.includes('Missed call from carol'), [], 'missed call from carol (ring timeout)', 8000);
  });

  await step('files: page to page, terminal to page, page to terminal, shared store (picker and drop)', async () => {
    const mk = (name, size) => { const p = path.join(tmp, 'files', name); fs.mkdirSync(path.dirname(p), { recursive: true }); const b = Buffer.alloc(size); for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 9)) & 255; fs.writeFileSync(p, b); return p; };
    const card = (name, fname, state) => waitPage(name, (n, st) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].find((x) => x.querySelector('.fname').textContent === n);
      return !!c && c.dataset.state === st;
    }, [fname, state], `transfer ${fname} ${state}`, 15000);
    const clickCard = (name, fname, label) => pages[name].page.evaluate((n, l) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].find((x) => x.querySelector('.fname').textContent === n);
      [...c.querySelectorAll('button')].find((b) => b.textContent === l).click();
    }, fname, label);
    // alice -> bob, 3 MiB (more than one credit window): bob's browser downloads it.
    const big = mk('a-to-b.bin', 3 * 1024 * 1024 + 123);
    await clickIn('alice', '#dm-list [data-key="@bob"]');
    await (await pages.alice.page.$('#offer-input')).uploadFile(big);
    await card('bob', 'a-to-b.bin', 'pending');
    await clickCard('bob', 'a-to-b.bin', 'Accept');
    await card('bob', 'a-to-b.bin', 'completed');
    await card('alice', 'a-to-b.bin', 'completed');
    if (!(await downloaded('bob', 'a-to-b.bin', fs.statSync(big).size)).equals(fs.readFileSync(big))) throw new Error('bob\'s download of a-to-b.bin differs');
    const said = await pages.bob.page.evaluate(() => [...document.querySelectorAll('#transfers .transfer')].find((x) => x.querySelector('.fname').textContent === 'a-to-b.bin').querySelector('.transfer-state').textContent);
    if (!/saved by your browser/.test(said)) throw new Error(`bob's card says "${said}"`);
    // carol (terminal) -> alice
    const c2a = mk('c-to-a.bin', 200000);
    carol.say(`/send alice ${c2a}`);
    await card('alice', 'c-to-a.bin', 'pending');
    await clickCard('alice', 'c-to-a.bin', 'Accept');
    await card('alice', 'c-to-a.bin', 'completed');
    if (!(await downloaded('alice', 'c-to-a.bin', 200000)).equals(fs.readFileSync(c2a))) throw new Error('alice\'s download of c-to-a.bin differs');
    // An empty file: the download's request itself completes it.
    const empty = mk('empty.bin', 0);
    carol.say(`/send alice ${empty}`);
    await card('alice', 'empty.bin', 'pending');
    await clickCard('alice', 'empty.bin', 'Accept');
    await card('alice', 'empty.bin', 'completed');
    await downloaded('alice', 'empty.bin', 0);
    // alice -> carol (terminal)
    const a2c = mk('a-to-c.bin', 300001);
    await clickIn('alice', '#people-list button[aria-label^="carol,"]');
    await (await pages.alice.page.$('#offer-input')).uploadFile(a2c);
    const offer = await waitLine(carol, /transfer (\d+): alice offers a-to-c\.bin/, 10000, 'carol gets the offer');
    carol.say(`/accept ${offer.match(/transfer (\d+)/)[1]} ${path.join(tmp, 'carol-got.bin')}`);
    await waitLine(carol, /a-to-c\.bin from alice: completed/, 15000, 'carol receives the file');
    if (!fs.readFileSync(path.join(tmp, 'carol-got.bin')).equals(fs.readFileSync(a2c))) throw new Error('carol\'s copy differs');
    await card('alice', 'a-to-c.bin', 'completed');
    // bob -> store -> alice
    const up = mk('notes.bin', 150000);
    await (await pages.bob.page.$('#upload-input')).uploadFile(up);
    await card('bob', 'notes.bin', 'completed');
    await clickIn('alice', '#files-open');
    await waitPage('alice', () => [...document.querySelectorAll('#files-body .fname')].some((e) => e.textContent === 'notes.bin'), [], 'notes.bin listed in the store');
    // The store's files are links the browser's download manager fetches over HTTP.
    const href = await pages.alice.page.$eval('#files-body a[aria-label="Download notes.bin"]', (a) => a.href);
    if (!/\/files\/notes\.bin\?key=/.test(href)) throw new Error(`download link ${href}`);
    const got = Buffer.from(await (await fetch(href)).arrayBuffer());
    if (!got.equals(fs.readFileSync(up))) throw new Error(`GET ${href} gave ${got.length} other bytes`);
    // Drag and drop onto the page uploads too.
    await pages.bob.page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped on the page\n'], 'dropped.txt', { type: 'text/plain' }));
      window.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await card('bob', 'dropped.txt', 'completed');
    await clickIn('alice', '#files-refresh');
    await waitPage('alice', () => [...document.querySelectorAll('#files-body .fname')].some((e) => e.textContent === 'dropped.txt'), [], 'dropped.txt listed in the store');
    await clickIn('alice', '#files-close');
  });

  await step('transfers: pause and resume, cancel', async () => {
    const p = path.join(tmp, 'files', 'big.bin');
    // Big enough that what the sockets on the way hold before a held download stops the
    // server's credit is a small part of it (a few MiB; more through bridge.mjs).
    const data = Buffer.alloc(64 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i >> 12) & 255;
    fs.writeFileSync(p, data);
    const stateOf = (name, n) => pages[name].page.evaluate((fname) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === fname);
      return c ? c.dataset.state : null;
    }, n);
    // Clicks a transfer's button as soon as the card is in a state (in the page, no delay).
    const clickWhen = (name, st, label) => waitPage(name, (s2, l) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === 'big.bin');
      if (!c || c.dataset.state !== s2) return false;
      const b = [...c.querySelectorAll('button')].find((x) => x.textContent === l);
      if (!b) return false;
      b.click();
      return true;
    }, [st, label], `${label} big.bin when ${st}`, 15000);
    const until = (name, st) => waitPage(name, (s2) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === 'big.bin');
      return !!c && c.dataset.state === s2;
    }, [st], `big.bin ${st}`, 20000);
    // Some bytes moved, as alice's card shows (a download runs too fast to pause otherwise).
    const sentSome = () => waitPage('alice', () => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === 'big.bin');
      return !!c && c.dataset.state === 'in_progress' && /[1-9]\d*% /.test(c.querySelector('.transfer-state').textContent);
    }, [], 'big.bin part way', 15000);
    await clickIn('alice', '#dm-list [data-key="@bob"]');
    relay.holdDownloads(true); // bob's browser stops reading its download: the transfer waits part way
    await (await pages.alice.page.$('#offer-input')).uploadFile(p);
    await clickWhen('bob', 'pending', 'Accept');
    await sentSome();
    await clickWhen('bob', 'in_progress', 'Pause');
    await until('alice', 'paused');
    await until('bob', 'paused');
    log(`     big.bin held: alice's card says "${await pages.alice.page.evaluate(() => [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === 'big.bin').querySelector('.transfer-state').textContent)}"`);
    // Paused, the server grants alice no credit however fast bob's browser reads.
    relay.holdDownloads(false);
    await sleep(400);
    if (await stateOf('alice', 'big.bin') !== 'paused') throw new Error(`alice's big.bin is ${await stateOf('alice', 'big.bin')} while paused`);
    if (fs.existsSync(path.join(pages.bob.downloads, 'big.bin'))) throw new Error('bob\'s download of big.bin completed while paused');
    await clickWhen('alice', 'paused', 'Resume');
    await until('bob', 'completed');
    await until('alice', 'completed');
    if (!(await downloaded('bob', 'big.bin', data.length)).equals(data)) throw new Error('bob\'s download of big.bin differs');
    // Cancel from the sender's side (while bob has it paused).
    await pages.alice.page.evaluate(() => document.querySelectorAll('#transfers .transfer button').forEach((b) => b.textContent === 'Dismiss' && b.click()));
    await pages.bob.page.evaluate(() => document.querySelectorAll('#transfers .transfer button').forEach((b) => b.textContent === 'Dismiss' && b.click()));
    relay.holdDownloads(true);
    await (await pages.alice.page.$('#offer-input')).uploadFile(p);
    await clickWhen('bob', 'pending', 'Accept');
    await sentSome();
    await clickWhen('bob', 'in_progress', 'Pause');
    await clickWhen('alice', 'paused', 'Cancel');
    await until('bob', 'cancelled');
    await until('alice', 'cancelled');
    relay.holdDownloads(false);
    if (await stateOf('bob', 'big.bin') !== 'cancelled') throw new Error('bob does not show it cancelled');
  });

  await step('read receipts wait for the focus; notifications when away', async () => {
    // bob's tab loses the focus: what arrives is delivered, not read, and notified.
    await pages.bob.page.evaluate(() => {
      window.__notes = [];
      window.Notification = class { constructor(title, o) { window.__notes.push(`${title}: ${o.body}`); } static requestPermission() { return Promise.resolve('granted'); } };
      window.Notification.permission = 'default';
    });
    await clickIn('bob', '#notify-enable');
    await waitPage('bob', () => document.getElementById('notify-enable').hidden, [], 'notifications enabled');
    await clickIn('bob', '#room-list [data-key="#general"]');
    await pages.bob.page.evaluate(() => window.dispatchEvent(new Event('blur')));
    await sendFromPage('alice', '#general', 'are you reading this, bob?');
    await waitLine(carol, 'are you reading this, bob?', 5000, 'carol gets it');
    carol.say('/sleep 0.05');
    const tick = () => pages.alice.page.evaluate(() => {
      const m = [...document.querySelectorAll('.messages[data-key="#general"] .msg.own')].find((e) => e.querySelector('.text').textContent === 'are you reading this, bob?');
      const t = m && m.querySelector('.ticks');
      return t ? `${t.dataset.state} ${t.title}` : null;
    });
    await waitPage('alice', () => {
      const m = [...document.querySelectorAll('.messages[data-key="#general"] .msg.own')].find((e) => e.querySelector('.text').textContent === 'are you reading this, bob?');
      return m && m.querySelector('.ticks').title === 'delivered to 2 of 2, read by 1 of 2';
    }, [], 'delivered to both, read by carol only');
    carol.say('/msg bob psst, lunch?');
    await waitPage('bob', () => window.__notes.includes('carol (private): psst, lunch?'), [], 'notified of the private message');
    carol.say('/call bob');
    await waitPage('bob', () => window.__notes.includes('Incoming call: carol is calling you'), [], 'notified of the call');
    await clickIn('bob', '#call-decline');
    await sleep(300);
    if ((await tick()) !== 'delivered delivered to 2 of 2, read by 1 of 2') throw new Error(`read while bob was away: ${await tick()}`);
    await pages.bob.page.evaluate(() => window.dispatchEvent(new Event('focus')));
    await waitPage('alice', () => {
      const m = [...document.querySelectorAll('.messages[data-key="#general"] .msg.own')].find((e) => e.querySelector('.text').textContent === 'are you reading this, bob?');
      return m && m.querySelector('.ticks').title === 'read by 2 of 2';
    }, [], 'read by both once bob is back');
  });

  await step('search and members', async () => {
    await clickIn('bob', '#room-list [data-key="#general"]');
    await clickIn('bob', '#search-open');
    await pages.bob.page.type('#search-text', 'hello alice');
    await pages.bob.page.select('#search-scope', 'all');
    await clickIn('bob', '#search-form button[type=submit]');
    await waitPage('bob', () => [...document.querySelectorAll('#search-results .text')].some((e) => e.textContent === 'hello from alice'), [], 'finds "hello from alice"', 8000);
    await pages.bob.page.keyboard.press('Escape');
    await waitPage('bob', () => document.getElementById('search-panel').hidden, [], 'Escape closes the search');
    await clickIn('bob', '#members-toggle');
    await waitPage('bob', () => [...document.querySelectorAll('#members-list .name')].map((e) => e.textContent).join(',') === 'alice,bob,carol', [], 'members of #general listed');
  });

  await step('network drop mid-transfer: bob resumes his session, catches up, a transfer received in memory resumes, one received as a download fails', async () => {
    const p = path.join(tmp, 'files', 'resumed.bin');
    // Big enough that bob's Pause (once his card shows progress, redrawn every 250 ms) comes
    // before the end.
    const data = Buffer.alloc(24 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 13)) & 255;
    fs.writeFileSync(p, data);
    const p2 = path.join(tmp, 'files', 'stopped.bin');
    fs.writeFileSync(p2, Buffer.alloc(64 * 1024 * 1024, 5)); // as big.bin, to stop part way
    const cardOf = (name, f) => pages[name].page.evaluate((fname) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === fname);
      return c ? { state: c.dataset.state, text: c.querySelector('.transfer-state').textContent } : null;
    }, f);
    const clickWhen = (name, st, label, extra = 'true', file = 'resumed.bin') => waitPage(name, (s2, l, f, ex) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === f);
      if (!c || c.dataset.state !== s2) return false;
      if (ex === 'progress' && !/[1-9]\d*% /.test(c.querySelector('.transfer-state').textContent)) return false;
      const b = [...c.querySelectorAll('button')].find((x) => x.textContent === l);
      if (!b) return false;
      b.click();
      return true;
    }, [st, label, file, extra], `${label} ${file} when ${st}`, 15000);
    const until = (name, st, file = 'resumed.bin') => waitPage(name, (s2, f) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === f);
      return !!c && c.dataset.state === s2;
    }, [st, file], `${file} ${st}`, 15000);
    await clickIn('alice', '#dm-list [data-key="@bob"]');
    // stopped.bin: received as a download, which bob's browser stops reading part way.
    relay.holdDownloads(true);
    await (await pages.alice.page.$('#offer-input')).uploadFile(p2);
    await clickWhen('bob', 'pending', 'Accept', 'true', 'stopped.bin');
    await waitPage('alice', () => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === 'stopped.bin');
      return !!c && c.dataset.state === 'in_progress' && /[1-9]\d*% /.test(c.querySelector('.transfer-state').textContent);
    }, [], 'stopped.bin part way', 15000);
    // resumed.bin: received the way of a server without files_key (in memory, credit granted by
    // the page), which can resume after a drop. The key comes back with the next welcome.
    await pages.bob.page.evaluate(() => { window.Chat.S.filesKey = null; });
    await (await pages.alice.page.$('#offer-input')).uploadFile(p);
    await clickWhen('bob', 'pending', 'Accept');
    await clickWhen('bob', 'in_progress', 'Pause', 'progress'); // some bytes in, then hold it there
    await until('alice', 'paused');
    // bob stays away until told (a long first delay), so that carol's message is missed.
    await pages.bob.page.evaluate(() => localStorage.setItem('chat.reconnectBaseMs', '60000'));
    relay.cut();
    relay.holdDownloads(false);
    await until('alice', 'interrupted');
    // A download cannot go on into the same file: the server fails it, and both pages say why.
    await until('alice', 'failed', 'stopped.bin');
    await until('bob', 'failed', 'stopped.bin');
    for (const [name, why] of [['alice', /send it again/], ['bob', /connection to the server dropped/]]) {
      const c = await cardOf(name, 'stopped.bin');
      if (!why.test(c.text)) throw new Error(`${name}'s card for stopped.bin says "${c.text}"`);
    }
    await waitPage('bob', () => /Reconnecting in/.test(document.getElementById('banner').textContent), [], 'says it is reconnecting');
    carol.say('/msg bob while your line was down');
    await waitLine(carol, /✓ #\d+ sent to bob/, 5000, 'carol\'s message to bob (held for his session)');
    await pages.bob.page.evaluate(() => localStorage.setItem('chat.reconnectBaseMs', '200'));
    await clickIn('bob', '#banner-action');
    await waitPage('bob', () => /Reconnected/.test(document.getElementById('banner').textContent), [], 'reconnected', 10000);
    await waitPage('bob', () => {
      const m = [...document.querySelectorAll('.messages[data-key="@carol"] .msg.missed')].find((e) => e.querySelector('.text').textContent === 'while your line was down');
      return !!m;
    }, [], 'carol\'s private message shown as missed (same session: it is his to read)');
    await until('bob', 'interrupted');
    await clickWhen('alice', 'interrupted', 'Resume');
    await until('bob', 'completed');
    await until('alice', 'completed');
    const size = await pages.bob.page.evaluate(() => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === 'resumed.bin');
      return Number(c.querySelector('a[download]').dataset.size);
    });
    if (size !== data.length) throw new Error(`bob's copy has ${size} bytes, not ${data.length}`);
    const from = await pages.alice.page.evaluate(() => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === 'resumed.bin');
      return Number(c.dataset.resumedFrom);
    });
    if (!(from > 0 && from < data.length)) throw new Error(`the transfer did not continue from bob's bytes (resumed from ${from})`);
    log(`     resumed from byte ${from} of ${data.length}`);
  });

  await step('SHA-256 in the page matches node\'s', async () => {
    const { createHash } = await import('node:crypto');
    for (const n of [0, 3, 55, 56, 63, 64, 65, 1000, 100000]) {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
      const got = await pages.alice.page.evaluate((arr) => window.chatSha256(new Uint8Array(arr)), [...b]);
      const want = createHash('sha256').update(b).digest('hex');
      if (got !== want) throw new Error(`${n} bytes: ${got} != ${want}`);
    }
  });

  await step('mentions: badge on the room, highlighted name', async () => {
    await clickIn('alice', '#dm-list [data-key="@bob"]');
    carol.say('/sleep 0.1');
    carol.say('ping alice: standup?');
    await waitPage('alice', () => !!document.querySelector('#room-list [data-key="#general"] .badge.mention'), [], 'mention badge on #general');
    const marked = await pages.alice.page.evaluate(() => {
      const m = [...document.querySelectorAll('.messages[data-key="#general"] .msg.mention')].find((e) => e.querySelector('.text').textContent === 'ping alice: standup?');
      return m ? m.querySelector('mark').textContent : null;
    });
    if (marked !== 'alice') throw new Error(`mention not highlighted (${marked})`);
    await clickIn('alice', '#room-list [data-key="#general"]');
    await waitPage('alice', () => !document.querySelector('#room-list [data-key="#general"] .badge'), [], 'badge gone once the room is open');
  });

  await step('status: away with a message', async () => {
    const { page } = pages.alice;
    await page.select('#status-select', 'away');
    await page.type('#away-message', 'at lunch until 2');
    await clickIn('alice', '#status-set');
    await waitPage('bob', () => !!document.querySelector('#people-list button[aria-label^="alice, away"]'), [], 'alice shown away');
    carol.say('/msg alice are you there?');
    await waitLine(carol, 'alice is away: at lunch until 2', 5000, 'carol told alice is away');
    await pageHas('alice', '@carol', 'are you there?');
    await page.select('#status-select', 'online');
    await waitPage('bob', () => !!document.querySelector('#people-list button[aria-label^="alice, online"]'), [], 'alice back online');
  });

  await step('leave a room', async () => {
    await clickIn('alice', '#room-list [data-key="#hist"]');
    await clickIn('alice', '#leave-room');
    await waitPage('alice', () => !document.querySelector('#room-list [data-key="#hist"]') && document.getElementById('conv-name').textContent !== '#hist', [], '#hist gone from the list');
    await waitLine(carol, /alice left #hist$/, 5000, 'carol sees alice leave #hist');
  });

  await step('passwords: registered name, wrong password, takeover without ping-pong', async () => {
    const first = await openPage('dave', 200);
    await first.goto(webUrl);
    await first.type('#login-name', 'dave');
    await first.type('#login-password', 'correct horse');
    await first.click('#login-submit');
    await waitPage('dave', () => !document.getElementById('app').hidden, [], 'dave registered and logged in');
    const stored = await first.evaluate(() => JSON.stringify({ ...localStorage }));
    if (stored.includes('correct horse')) throw new Error('the password is in localStorage');
    const second = await openPage('dave2', 200);
    await second.goto(webUrl);
    await second.type('#login-name', 'dave');
    await second.click('#login-submit');
    await waitPage('dave2', () => document.getElementById('login-error').textContent === '"dave" is a registered name: enter its password.', [], 'asks for the password');
    await second.type('#login-password', 'wrong horse');
    await second.click('#login-submit');
    await waitPage('dave2', () => document.getElementById('login-error').textContent === 'That password is wrong for this name.', [], 'says the password is wrong');
    await second.$eval('#login-password', (e) => { e.value = ''; });
    await second.type('#login-password', 'correct horse');
    await second.click('#login-submit');
    await waitPage('dave2', () => !document.getElementById('app').hidden, [], 'logged in with the right password');
    await waitPage('dave', () => /took this session over/.test(document.getElementById('banner').textContent) && /will not reconnect/.test(document.getElementById('banner').textContent), [], 'told it was taken over');
    await sleep(1500);
    const still = await second.evaluate(() => document.getElementById('banner').hidden || !/took this session over/.test(document.getElementById('banner').textContent));
    if (!still) throw new Error('the first page took the session back');
  });

  await step('server restart: pages reconnect, queued messages go once, alice catches up', async () => {
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    await waitPage('bob', () => /Reconnecting|Could not reach/.test(document.getElementById('banner').textContent), [], 'says it is reconnecting');
    await waitPage('alice', () => /Reconnecting/.test(document.getElementById('banner').textContent), [], 'says it is reconnecting');
    await sendFromPage('bob', '#general', 'queued while offline');
    await sendFromPage('alice', '#general', 'alice offline note');
    await waitPage('bob', () => /message will be sent once it is back/.test(document.getElementById('banner').textContent), [], 'says one message waits');
    await startServer(chatPort);
    await waitPage('bob', () => {
      const m = [...document.querySelectorAll('.messages[data-key="#general"] .msg.own')].find((e) => e.querySelector('.text').textContent === 'queued while offline');
      return m && m.querySelector('.ticks').dataset.state !== 'pending';
    }, [], 'queued message acknowledged after the restart', 15000);
    await waitLine(carol, '<bob> queued while offline', 10000, 'carol gets bob\'s queued message');
    // alice is still away: her reconnect was put off. Now she reconnects from the banner.
    await clickIn('alice', '#banner-action');
    await waitPage('alice', () => {
      const m = [...document.querySelectorAll('.messages[data-key="#general"] .msg.missed')].find((e) => e.querySelector('.text').textContent === 'queued while offline');
      return !!m;
    }, [], 'shows bob\'s message marked missed', 10000);
    await waitPage('alice', () => /caught up on 1 missed message/.test(document.getElementById('banner').textContent), [], 'banner says it caught up');
    await pageHas('bob', '#general', 'alice offline note');
    await waitLine(carol, '<alice> alice offline note', 5000, 'carol gets alice\'s queued message');
    await sleep(300);
    const count = (name, text) => pages[name].page.evaluate((t) => [...document.querySelectorAll('.msg .text')].filter((e) => e.textContent === t).length, text);
    for (const [who, text] of [['alice', 'queued while offline'], ['bob', 'alice offline note'], ['alice', 'alice offline note'], ['bob', 'queued while offline']]) {
      const n = await count(who, text);
      if (n !== 1) throw new Error(`${who} shows "${text}" ${n} times`);
    }
    if (carol.lines.filter((l) => l.line.includes('<bob> queued while offline')).length !== 1) throw new Error('carol got the queued message more than once');
  });

  await step('a reloaded page logs back in by itself and reloads its history', async () => {
    // bob's name is open: its private history starts with its session, which the server
    // restart above ended; a message after it is his to read back with the same session.
    carol.say('/msg bob since the restart');
    await pageHas('bob', '@carol', 'since the restart');
    await pages.bob.page.reload({ waitUntil: 'load' });
    await waitPage('bob', () => !document.getElementById('app').hidden, [], 'logged in again without the form');
    await pageHas('bob', '#general', 'hello from alice', 'history of #general after the reload');
    await clickIn('bob', '#dm-list [data-key="@carol"]');
    await pageHas('bob', '@carol', 'since the restart', 'history of the private chat after the reload');
  });

  await step('no Content-Security-Policy violation, no page error', async () => {
    for (const [name, { page, logs }] of Object.entries(pages)) {
      const v = await page.evaluate(() => window.__csp);
      if (v.length) throw new Error(`${name}: CSP violations: ${v.join('; ')}`);
      const errs = logs.filter((l) => l.startsWith('pageerror') || /Content Security Policy/.test(l));
      if (errs.length) throw new Error(`${name}: ${errs.join(' | ')}`);
    }
  });

  // A picture of the page in use, for the record: a fresh room with a topic, a mention,
  // ticks and someone typing.
  await step('a room in use (for the screenshot)', async () => {
    carol.say('/join dev');
    await waitLine(carol, 'you joined #dev', 5000, 'carol joins #dev');
    carol.say('/topic release on friday; freeze from thursday noon');
    for (const who of ['alice', 'bob']) {
      await clickIn(who, '#join-name');
      await pages[who].page.type('#join-name', 'dev');
      await pages[who].page.keyboard.press('Enter');
      await waitPage(who, () => document.getElementById('conv-name').textContent === '#dev', [], 'in #dev');
    }
    const talk = [['bob', 'the build is red again'], ['alice', 'looking at it now'], ['carol', 'thanks alice, ping me when it is green'],
      ['bob', 'it is the flaky transfer test,\nsame as last week'], ['alice', 'found it: a timeout of 2 s on a loaded CI box. Patch in 10 min']];
    for (const [who, text] of talk) {
      if (who === 'carol') carol.say(text);
      else await sendFromPage(who, '#dev', text);
      await pageHas('alice', '#dev', text);
      await pageHas('bob', '#dev', text);
      await sleep(150);
    }
    carol.say('/sleep 0.1');
    await waitPage('alice', () => [...document.querySelectorAll('.messages[data-key="#dev"] .msg.own .ticks')].every((t) => t.dataset.state === 'read'), [], 'own messages read');
    // Keys: Shift+Enter is a new line, Enter sends, Up recalls the last message.
    const kb = pages.alice.page.keyboard;
    await clickIn('alice', '#input');
    await kb.type('pushed:');
    await kb.down('Shift'); await kb.press('Enter'); await kb.up('Shift');
    await kb.type('  fix-transfer-timeout');
    await kb.press('Enter');
    await pageHas('bob', '#dev', 'pushed:\n  fix-transfer-timeout', 'a two-line message typed with Shift+Enter');
    await kb.press('ArrowUp');
    if (await pages.alice.page.$eval('#input', (e) => e.value) !== 'pushed:\n  fix-transfer-timeout') throw new Error('Up did not recall the last message');
    await pages.alice.page.$eval('#input', (e) => { e.value = ''; e.dispatchEvent(new Event('input', { bubbles: true })); });
    await pages.alice.page.evaluate(() => document.querySelectorAll('#transfers .transfer button').forEach((b) => b.textContent === 'Dismiss' && b.click()));
    await waitPage('alice', () => document.getElementById('banner').hidden, [], 'banner gone', 8000);
    await clickIn('bob', '#input');
    await pages.bob.page.keyboard.type('nice, I will revi');
    await waitPage('alice', () => document.getElementById('typing').textContent === 'bob is typing…', [], 'bob typing');
  });
  fs.mkdirSync(shots, { recursive: true });
  const shot = path.join(shots, 'page-in-use.png');
  await pages.alice.page.screenshot({ path: shot });
  await pages.alice.page.setViewport({ width: 390, height: 800 });
  await sleep(200);
  const phone = path.join(shots, 'page-phone-width.png');
  await pages.alice.page.screenshot({ path: phone });
  await step('phone width: the sidebar folds away', async () => {
    const left = await pages.alice.page.evaluate(() => document.getElementById('sidebar').getBoundingClientRect().right);
    if (left > 1) throw new Error(`sidebar still on screen (right edge at ${left}px)`);
    await clickIn('alice', '#menu');
    await waitPage('alice', () => document.getElementById('sidebar').getBoundingClientRect().left >= 0, [], 'the menu button shows the sidebar');
    await clickIn('alice', '#room-list [data-key="#general"]');
    await waitPage('alice', () => document.getElementById('sidebar').getBoundingClientRect().right <= 1 && document.getElementById('conv-name').textContent === '#general', [], 'picking a room folds it away');
  });

  await step('every control has a name for screen readers', async () => {
    const unnamed = await pages.alice.page.evaluate(() => [...document.querySelectorAll('button, input, select, textarea, a[href]')].filter((e) => {
      if (e.type === 'hidden' || e.closest('[hidden]')) return false;
      const label = e.getAttribute('aria-label') || (e.id && document.querySelector(`label[for="${e.id}"]`)) || e.textContent.trim();
      return !label;
    }).map((e) => e.outerHTML.slice(0, 80)));
    if (unnamed.length) throw new Error(`controls without a name: ${unnamed.join(' | ')}`);
  });

  await step('log out', async () => {
    await clickIn('bob', '#logout');
    await waitPage('bob', () => !document.getElementById('login').hidden && document.getElementById('login-name').value === 'bob', [], 'back at the login form');
    await waitPage('alice', () => [...document.querySelectorAll('.messages[data-key="#dev"] .sys .text')].some((e) => e.textContent === 'bob left #dev'), [], 'sees bob leave (no "disconnected")');
    if (await pages.bob.page.evaluate(() => localStorage.getItem('chat.session'))) throw new Error('the session token is still stored');
  });

  carol.stdin.end();
  log(`screenshot of the page in use: ${shot}`);
  log(`at phone width: ${phone}`);
}

main().then(async () => {
  await browser?.close().catch(() => {});
  bridge?.close();
  relay?.close();
  killAll();
  if (process.env.CHAT_BROWSER_KEEP !== '1') {
    // The logs stay; the files sent and received (some 200 MiB) go.
    for (const d of ['profile', 'data', 'files', 'downloads', 'carol-got.bin']) fs.rmSync(path.join(tmp, d), { recursive: true, force: true });
  }
  log(`${passed} passed, ${failed} failed`);
  log(`artifacts in ${artifacts}`);
  process.exit(0);
}, async (e) => {
  if (!failed) { failed++; log(`FAIL ${e.message}`); }
  const saved = await saveArtifacts('failure').catch(() => []);
  for (const p of saved) log(`saved ${p}`);
  for (const c of [...children]) log(`log ${c.logFile}`);
  log(`server logs and client output under ${tmp}`);
  await browser?.close().catch(() => {});
  bridge?.close();
  relay?.close();
  killAll();
  log(`${passed} passed, ${failed} failed`);
  process.exit(1);
});
