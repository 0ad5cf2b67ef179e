// tests/browser/large.mjs: the large-file test of the browser client (issue 14): a 200 MiB file
// goes from a page (headless chromium, driven by puppeteer-core) to a scripted chat-client
// (--auto-accept --download-dir), and another from that chat-client to the page, through the
// real chat-server. The page receives it as a browser download the server feeds
// (GET /transfers/ID?key=K), into a download dir set through CDP (Browser.setDownloadBehavior).
// Checked each way: the SHA-256 of what arrived (the terminal's file; the browser's download,
// once no .crdownload is left and it has the right size) matches the source's, and chat-server's
// resident memory (VmRSS of /proc/PID/status, sampled every 100 ms) grows by less than 24 MiB
// over its value before the transfer, as the native 1 GiB test allows. Receiving, the tab's
// renderer (the renderer process that grew most) must grow by less than 100 MiB: the page
// holds none of the file (the in-memory way it replaced grew it by about 400 MiB for 200 MiB).
// Printed: the time each way, the renderer's RSS before, at its peak and after, the JS heap
// (Chromium's Performance.getMetrics, through page.metrics()) and the browser process's RSS.
//
// The files are generated on the fly in a temp dir, never committed: sparse, with 4 KiB of
// noise at the start of every 64 KiB and holes between, so a chunk at a wrong offset changes
// the hash while each source takes 1/16 of its size on disk (the received copies take all of
// it). The temp dir is removed at the end unless CHAT_BROWSER_KEEP=1.
//
// Env: CHAT_SERVER, CHAT_CLIENT (default ./target/debug/...; `make test` passes the release
// build's, which this test is sized for), CHROMIUM (/usr/bin/chromium), CHAT_BROWSER_LARGE_MB
// (the size, default 200), CHAT_BROWSER_KEEP=1. Ends with a "N passed, N failed" line.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './launch.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const SERVER = path.resolve(root, process.env.CHAT_SERVER || 'target/debug/chat-server');
const CLIENT = path.resolve(root, process.env.CHAT_CLIENT || 'target/debug/chat-client');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MiB = 1024 * 1024;
const SIZE = Math.round(Number(process.env.CHAT_BROWSER_LARGE_MB || 200) * MiB);
const RSS_GROWTH_LIMIT = 24 * MiB; // as tests/transfer_large.rs
// The tab's renderer while it receives 200 MiB: about +1 MiB measured with the browser download,
// +394 MiB when the page held the file; a file held in memory fails this from ~100 MiB up.
const RENDERER_GROWTH_LIMIT = 100 * MiB;
const TRANSFER_MS = 60000; // each way, hashing included
const TOTAL_DEADLINE_MS = 150000;

const t0 = Date.now();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-browser-large-'));
const children = new Set();
let browser = null;
let passed = 0;
let failed = 0;

function log(...a) { console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

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
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (d) => {
      out.write(d);
      rest += d.toString();
      let i;
      while ((i = rest.indexOf('\n')) >= 0) { child.lines.push(rest.slice(0, i)); rest = rest.slice(i + 1); }
    });
  }
  return child;
}

// Waits for a line matching `want`; a line matching `bad` (or the process's exit) fails it.
async function waitLine(child, want, ms, what, bad = null) {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = child.lines.find((l) => want.test(l));
    if (hit) return hit;
    const wrong = bad && child.lines.find((l) => bad.test(l));
    if (wrong) throw new Error(`${what}: "${wrong}"`);
    if (child.exitCode !== null) throw new Error(`${what}: the process exited (${child.exitCode}) first; see ${child.logFile}`);
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms; see ${child.logFile}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------- memory
// VmRSS of a process, in bytes (null once it is gone).
function rss(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : null;
  } catch { return null; }
}

// Chromium's renderer processes: descendants of the browser process with --type=renderer.
function renderers(browserPid) {
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const under = (pid) => { for (let p = pid; p > 1; p = parent.get(p)) if (p === browserPid) return true; return false; };
  return [...parent.keys()].filter((pid) => {
    if (!under(pid)) return false;
    try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer'); } catch { return false; }
  });
}

// Samples every 100 ms until stopped: for each named source, its first value and its peak.
function sampler(sources) {
  const seen = {};
  const sample = async () => {
    for (const [name, fn] of Object.entries(sources)) {
      const v = await fn();
      if (v === null || v === undefined) continue;
      if (!seen[name]) seen[name] = { base: v, peak: v, last: v };
      seen[name].peak = Math.max(seen[name].peak, v);
      seen[name].last = v;
    }
  };
  let running = true;
  const done = (async () => { while (running) { await sample(); await sleep(100); } })();
  return { stop: async () => { running = false; await done; await sample(); return seen; } };
}

// ---------------------------------------------------------------- files
// A sparse file of `size` bytes: xorshift noise in the first 4 KiB of every 64 KiB.
function generate(file, size, seed) {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, size);
  const block = Buffer.alloc(4096);
  const words = new Uint32Array(block.buffer, block.byteOffset, 1024);
  let x = seed >>> 0 || 1;
  for (let at = 0; at < size; at += 65536) {
    for (let i = 0; i < words.length; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; words[i] = x; }
    fs.writeSync(fd, block, 0, Math.min(block.length, size - at), at);
  }
  fs.closeSync(fd);
}

function sha256File(file) {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file, { highWaterMark: 4 * MiB }).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
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

function checkServerRss(seen, what) {
  const s = seen.server;
  if (!s) throw new Error(`${what}: no sample of chat-server's memory`);
  log(`     chat-server RSS ${mib(s.base)} before, peak ${mib(s.peak)} (+${mib(s.peak - s.base)})`);
  if (s.peak - s.base >= RSS_GROWTH_LIMIT) throw new Error(`${what}: chat-server's RSS grew by ${mib(s.peak - s.base)} (limit ${mib(RSS_GROWTH_LIMIT)})`);
}

async function main() {
  const timer = setTimeout(() => {
    log(`FAIL the whole run took more than ${TOTAL_DEADLINE_MS / 1000} s`);
    log(`${passed} passed, ${failed + 1} failed`);
    killAll();
    process.exit(1);
  }, TOTAL_DEADLINE_MS);
  timer.unref();
  for (const bin of [SERVER, CLIENT, CHROMIUM]) if (!fs.existsSync(bin)) throw new Error(`missing ${bin}`);
  log(`binaries: ${SERVER}, ${CLIENT}; ${mib(SIZE)} each way; temp dir ${tmp}`);

  const termDir = path.join(tmp, 'terminal-downloads');
  const pageDir = path.join(tmp, 'page-downloads');
  for (const d of [termDir, pageDir, path.join(tmp, 'config')]) fs.mkdirSync(d);

  let server;
  let port;
  await step('chat-server starts', async () => {
    server = track(spawn(SERVER, ['--port', '0', '--data-dir', path.join(tmp, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] }), 'server');
    port = Number((await waitLine(server, /listening on \S+:\d+/, 10000, 'chat-server start')).match(/:(\d+)\s*$/)[1]);
  });

  let page;
  await step('the page logs in as "web"', async () => {
    browser = await launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: path.join(tmp, 'profile'),
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      protocolTimeout: 60000,
    }, log);
    // What the page receives goes to pageDir, as the browser's downloads.
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: pageDir, eventsEnabled: true });
    browser.downloads = new Map(); // guid -> {name, state, received}
    cdp.on('Browser.downloadWillBegin', (e) => browser.downloads.set(e.guid, { name: e.suggestedFilename, state: 'inProgress', received: 0 }));
    cdp.on('Browser.downloadProgress', (e) => {
      const d = browser.downloads.get(e.guid) || { name: null };
      browser.downloads.set(e.guid, { ...d, state: e.state, received: e.receivedBytes });
    });
    page = (await browser.pages())[0] || await browser.newPage();
    page.on('pageerror', (e) => log(`     page error: ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load', timeout: 10000 });
    await page.type('#login-name', 'web');
    await page.click('#login-submit');
    await page.waitForFunction(() => !document.getElementById('app').hidden && !!document.querySelector('#room-list [data-key="#general"]'), { timeout: 10000, polling: 50 });
  });

  let term;
  await step('chat-client "term" logs in (--auto-accept --download-dir)', async () => {
    term = track(spawn(CLIENT, ['--name', 'term', '--port', String(port), '--room', 'general', '--auto-accept', '--download-dir', termDir], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: path.join(tmp, 'config') },
    }), 'term');
    term.say = (line) => term.stdin.write(`${line}\n`);
    await waitLine(term, /you joined #general/, 10000, 'term joins #general');
    await page.waitForFunction(() => !!document.querySelector('#people-list button[aria-label^="term,"]'), { timeout: 10000, polling: 50 });
    await page.evaluate(() => document.querySelector('#people-list button[aria-label^="term,"]').click());
    await page.waitForFunction(() => document.getElementById('conv-name').textContent === 'term', { timeout: 5000, polling: 50 });
  });

  await step(`${mib(SIZE)} from the page to the terminal: same SHA-256, chat-server's memory flat`, async () => {
    const src = path.join(tmp, 'up.bin');
    generate(src, SIZE, 0x9e3779b9);
    const want = await sha256File(src);
    const watch = sampler({ server: () => rss(server.pid) });
    await sleep(300); // a few samples before
    const start = Date.now();
    await (await page.$('#offer-input')).uploadFile(src);
    await page.waitForFunction((n) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === n);
      return c && c.dataset.state !== 'hashing';
    }, { timeout: TRANSFER_MS, polling: 50 }, 'up.bin');
    const hashed = Date.now();
    const line = await waitLine(term, /up\.bin from web: completed .* saved as (.+)$/, TRANSFER_MS, 'the terminal receives up.bin', /up\.bin from web: (failed|cancelled|rejected)/);
    const end = Date.now();
    const seen = await watch.stop();
    const saved = line.match(/saved as (.+)$/)[1];
    const got = await sha256File(saved);
    log(`     page -> terminal: ${secs(end - start)} in all: the page hashing the file ${secs(hashed - start)}, then the transfer ${secs(end - hashed)} (${(SIZE / MiB / ((end - hashed) / 1000)).toFixed(0)} MiB/s)`);
    if (got !== want) throw new Error(`the terminal's copy (${saved}) has SHA-256 ${got}, the source ${want}`);
    if (fs.statSync(saved).size !== SIZE) throw new Error(`the terminal's copy has ${fs.statSync(saved).size} bytes`);
    checkServerRss(seen, 'page -> terminal');
    await page.waitForFunction((n) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === n);
      return c && c.dataset.state === 'completed';
    }, { timeout: 10000, polling: 50 }, 'up.bin');
    fs.rmSync(saved);
  });

  await step(`${mib(SIZE)} from the terminal to the page as a browser download: same SHA-256, chat-server's memory flat, the tab's too`, async () => {
    const src = path.join(tmp, 'down.bin');
    generate(src, SIZE, 0x85ebca6b);
    const want = await sha256File(src);
    const browserPid = browser.process().pid;
    const metric = async (key) => { try { return (await page.metrics())[key]; } catch { return null; } };
    const sources = {
      server: () => rss(server.pid),
      heapUsed: () => metric('JSHeapUsedSize'),
      browserProcess: () => rss(browserPid),
    };
    for (const pid of renderers(browserPid)) sources[`renderer ${pid}`] = () => rss(pid);
    const watch = sampler(sources);
    await sleep(300);
    const start = Date.now();
    term.say(`/send web ${src}`);
    // The terminal hashes the file before it offers it; the page accepts as soon as it sees the
    // offer, and its browser starts the download.
    await page.waitForFunction((n) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === n);
      const b = c && c.dataset.state === 'pending' && [...c.querySelectorAll('button')].find((x) => x.textContent === 'Accept');
      if (b) b.click();
      return !!b;
    }, { timeout: TRANSFER_MS, polling: 20 }, 'down.bin');
    const accepted = Date.now();
    await page.waitForFunction((n) => {
      const c = [...document.querySelectorAll('#transfers .transfer')].reverse().find((x) => x.querySelector('.fname').textContent === n);
      if (c && ['failed', 'cancelled', 'rejected'].includes(c.dataset.state)) throw new Error(`down.bin ${c.dataset.state}: ${c.textContent}`);
      return c && c.dataset.state === 'completed';
    }, { timeout: TRANSFER_MS, polling: 50 }, 'down.bin');
    const completed = Date.now();
    await waitLine(term, /down\.bin to web: completed/, 10000, 'the terminal sees down.bin completed');
    // The server says completed once the last bytes are queued to the download: the browser
    // then finishes writing the file.
    const saved = path.join(pageDir, 'down.bin');
    const deadline = Date.now() + 30000;
    const dl = () => [...browser.downloads.values()].find((d) => d.name === 'down.bin');
    for (;;) {
      const d = dl();
      if (d && d.state === 'canceled') throw new Error(`the browser's download of down.bin was cancelled after ${d.received} bytes`);
      const partial = fs.readdirSync(pageDir).filter((f) => f.endsWith('.crdownload'));
      if (d && d.state === 'completed' && !partial.length && fs.existsSync(saved) && fs.statSync(saved).size === SIZE) break;
      if (Date.now() > deadline) throw new Error(`the browser's download did not complete within 30 s of the transfer (in ${pageDir}: ${fs.readdirSync(pageDir).join(', ')}; ${JSON.stringify(d)})`);
      await sleep(50);
    }
    const end = Date.now();
    await sleep(500); // what the tab holds afterwards
    const seen = await watch.stop();
    log(`     terminal -> page: ${secs(end - start)} in all: the terminal hashing and offering ${secs(accepted - start)}, then the transfer ${secs(completed - accepted)} (${(SIZE / MiB / ((completed - accepted) / 1000)).toFixed(0)} MiB/s), the browser's file complete ${secs(end - completed)} later`);
    checkServerRss(seen, 'terminal -> page');
    const h = seen.heapUsed;
    if (h) log(`     the tab's JS heap (used): ${mib(h.base)} before, peak ${mib(h.peak)}, ${mib(h.last)} after`);
    const b = seen.browserProcess;
    if (b) log(`     browser process RSS: ${mib(b.base)} before, peak ${mib(b.peak)} (+${mib(b.peak - b.base)}), ${mib(b.last)} after`);
    // The tab's renderer is the one that grew most (chromium runs a few more).
    const rend = Object.entries(seen).filter(([k]) => k.startsWith('renderer')).sort((x, y) => (y[1].peak - y[1].base) - (x[1].peak - x[1].base));
    if (!rend.length) throw new Error('no sample of a renderer process');
    const [k, v] = rend[0];
    log(`     the tab's renderer (${k}, the one of ${rend.length} renderer processes that grew most) RSS: ${mib(v.base)} before, peak ${mib(v.peak)} (+${mib(v.peak - v.base)}), ${mib(v.last)} after`);
    if (v.peak - v.base >= RENDERER_GROWTH_LIMIT) throw new Error(`the renderer grew by ${mib(v.peak - v.base)} (limit ${mib(RENDERER_GROWTH_LIMIT)}): is the page holding the file?`);
    const got = await sha256File(saved);
    if (got !== want) throw new Error(`the browser's copy (${saved}) has SHA-256 ${got}, the source ${want}`);
  });
  term.stdin.end();
}

const cleanup = async () => {
  await browser?.close().catch(() => {});
  killAll();
};
main().then(async () => {
  await cleanup();
  if (process.env.CHAT_BROWSER_KEEP !== '1') fs.rmSync(tmp, { recursive: true, force: true });
  log(`${passed} passed, ${failed} failed`);
  process.exit(0);
}, async (e) => {
  if (!failed) { failed++; log(`FAIL ${e.message}`); }
  await cleanup();
  // Keep the logs, not the big files.
  for (const f of ['up.bin', 'down.bin', 'terminal-downloads', 'page-downloads', 'profile']) fs.rmSync(path.join(tmp, f), { recursive: true, force: true });
  log(`logs under ${tmp}`);
  log(`${passed} passed, ${failed} failed`);
  process.exit(1);
});
