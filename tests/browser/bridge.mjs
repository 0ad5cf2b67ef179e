// tests/browser/bridge.mjs: a stand-in for chat-server's own web side, for working on the page
// (run.mjs with CHAT_BROWSER_BRIDGE=1). chat-server embeds src/web when it is built; this serves
// the files as they are on disk, so a change to the page is tested without rebuilding. It serves
// src/web as chat-server does (GET / with each {{NAME.js}} / {{NAME.css}} placeholder replaced by
// a content-hashed URL, the same CSP), passes other GETs (/files/NAME?key=...,
// /transfers/ID?key=...) to the server, and relays /ws WebSocket messages to the server's
// native protocol: a TEXT message gains the 4-byte length prefix, a BINARY chunk (8-byte id,
// 8-byte offset, bytes) becomes a JSON file_chunk with base64, and back. It was the page's only
// way in before the server had /ws; it is not part of the product, and CI runs the test against
// the server itself.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { WebSocketServer } from 'ws';

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; media-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function startBridge({ chatPort, webDir, host = '127.0.0.1' }) {
  const read = (f) => fs.readFileSync(path.join(webDir, f));
  const hash = (b) => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16);
  const types = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
  const assets = () => {
    let html = read('index.html').toString();
    const out = {};
    for (const name of new Set([...html.matchAll(/\{\{([\w.-]+)\}\}/g)].map((m) => m[1]))) {
      const body = read(name);
      const dot = name.lastIndexOf('.');
      const url = `/${name.slice(0, dot)}.${hash(body)}${name.slice(dot)}`;
      html = html.replaceAll(`{{${name}}}`, url);
      out[url] = [types[name.slice(dot + 1)], body];
    }
    out['/'] = ['text/html; charset=utf-8', Buffer.from(html)];
    return out;
  };
  const server = http.createServer((req, res) => {
    const a = assets()[req.url.split('?')[0]];
    if (req.method === 'GET' && !a) {
      // Anything else (the store's downloads, a transfer's download) is the server's.
      const up = http.request({ host, port: chatPort, path: req.url, headers: { ...req.headers, host: `${host}:${chatPort}` } }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
      up.on('error', () => { res.writeHead(502); res.end(); });
      up.end();
      return;
    }
    if (req.method !== 'GET') { res.writeHead(405, { 'content-type': 'text/plain' }); res.end('GET only\n'); return; }
    res.writeHead(200, { 'content-type': a[0], 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
    res.end(a[1]);
  });
  const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 16 << 20 });
  wss.on('connection', (ws) => {
    const tcp = net.connect(chatPort, host);
    let buf = Buffer.alloc(0);
    const early = [];
    let open = false;
    tcp.on('connect', () => { open = true; for (const b of early) tcp.write(b); early.length = 0; });
    const toServer = (b) => (open ? tcp.write(b) : early.push(b));
    tcp.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const n = buf.readUInt32BE(0);
        if (buf.length < 4 + n) break;
        const body = buf.subarray(4, 4 + n);
        buf = buf.subarray(4 + n);
        let f = null;
        if (body.includes('"file_chunk"')) { try { f = JSON.parse(body); } catch { f = null; } }
        if (f && f.type === 'file_chunk') {
          const data = Buffer.from(f.data, 'base64');
          const out = Buffer.alloc(16 + data.length);
          out.writeBigUInt64BE(BigInt(f.id), 0);
          out.writeBigUInt64BE(BigInt(f.offset), 8);
          data.copy(out, 16);
          ws.send(out, { binary: true });
        } else {
          ws.send(body.toString('utf8'), { binary: false });
        }
      }
    });
    tcp.on('close', () => ws.close());
    tcp.on('error', () => ws.close());
    ws.on('message', (data, isBinary) => {
      let body;
      if (isBinary) {
        const b = Buffer.from(data);
        body = Buffer.from(JSON.stringify({ type: 'file_chunk', id: Number(b.readBigUInt64BE(0)), offset: Number(b.readBigUInt64BE(8)), data: b.subarray(16).toString('base64') }));
      } else {
        body = Buffer.from(data.toString(), 'utf8');
      }
      const head = Buffer.alloc(4);
      head.writeUInt32BE(body.length);
      toServer(Buffer.concat([head, body]));
    });
    ws.on('close', () => tcp.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => resolve({
      port: server.address().port,
      close: () => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(); },
    }));
  });
}
