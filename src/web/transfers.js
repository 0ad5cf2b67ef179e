// src/web/transfers.js: files between users and to or from the shared store, over the
// WebSocket: the file-name rule, hashing and offering a file, credit-based flow control both
// ways, sending chunks as binary messages (the file read ahead a MiB at a time), receiving a
// file another user sends as a browser download the server feeds (GET /transfers/ID?key=K,
// see acceptOffer; nothing held in the tab), or, from an older server without files_key, in
// memory; pause, resume after a drop (with the prefix hash) and the end states.
'use strict';

(() => {
  const C = window.Chat;
  const {
    MAX_IN_MEMORY_RECEIVE, S, Sha256, addSystem, convKey, fmtBytes, getConv, nextCid, notify, send,
    sendLive, toast, utf8len,
  } = C;

  const CHUNK = 65536;
  const CREDIT_WINDOW = 1024 * 1024;
  // A file being sent is read this much at a time (one slice().arrayBuffer() per MiB, not per
  // chunk: each read costs a round trip to the browser process), the next piece while this one
  // goes out, so at most two pieces are held.
  const READ_AHEAD = 1024 * 1024;

  // The file-name rule of PROTOCOL.md (Files), checked before offering or accepting.
  function fileNameProblem(name) {
    const n = utf8len(name);
    if (n < 1 || n > 250) return 'it must be 1 to 250 bytes long';
    if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'it contains a control character';
    if (/[/\\]/.test(name)) return 'it contains a path separator';
    if (/[:*?<>|"]/.test(name)) return 'it contains one of : * ? < > | "';
    if (/^\.+$/.test(name) || name.includes('..')) return 'it contains ".."';
    if (/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]/.test(name)) return 'it contains a bidi control or line separator';
    if (/^[\s\u200b-\u200d\u2060\ufeff\u00ad\u3164\uffa0\u115f\u1160]*$/.test(name)) return 'it is only whitespace or invisible characters';
    if (/^[.\-\s]/.test(name)) return 'it starts with ".", "-" or whitespace';
    if (/[.\s]$/.test(name)) return 'it ends with "." or whitespace';
    if (/^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³]|conin\$|conout\$)(\.|$)/i.test(name)) return 'it is a Windows device name';
    return null;
  }

  // A transfer: {id, role, peer, name, size, sha256, state, file (sender), piece and nextPiece
  //              (sender: what is read ahead), chunks (receiver in memory), sink (receiver
  //              through a browser download), done (bytes), credit, hasher, started, cid, card}
  function transferOf(id) { return S.transfers.get(id); }

  async function hashFile(file, progress) {
    const h = new Sha256();
    const step = 4 * 1024 * 1024;
    for (let off = 0; off < file.size; off += step) {
      const buf = new Uint8Array(await file.slice(off, Math.min(file.size, off + step)).arrayBuffer());
      h.update(buf);
      if (progress) progress(Math.min(file.size, off + step));
    }
    return h.hex();
  }

  async function offerFile(file, to) {
    const problem = fileNameProblem(file.name);
    if (problem) { toast(`Cannot send "${file.name}": ${problem}. Rename it first.`, 'error'); return; }
    const cid = nextCid();
    const t = { id: null, cid, role: 'sender', peer: to, name: file.name, size: file.size, file, state: 'hashing', done: 0, credit: 0 };
    S.transfers.set(cid, t);
    C.renderTransfer(t);
    t.sha256 = await hashFile(file, (n) => { t.hashed = n; C.renderTransfer(t); });
    t.state = 'offering';
    C.renderTransfer(t);
    const f = to ? { type: 'file_offer', to, name: file.name, size: file.size, sha256: t.sha256, cid } : { type: 'upload', name: file.name, size: file.size, sha256: t.sha256, cid };
    if (!sendLive(f)) setTransferState(t, 'failed', 'not connected to the server');
  }

  function onFileState(f) {
    let t = transferOf(f.id);
    if (!t && f.cid && S.transfers.has(f.cid)) {
      t = S.transfers.get(f.cid);
      S.transfers.delete(f.cid);
      t.id = f.id;
      S.transfers.set(f.id, t);
    }
    if (!t) {
      t = { id: f.id, role: f.role, peer: f.peer || null, name: f.name, size: f.size, sha256: f.sha256, state: f.state, done: 0, credit: 0 };
      S.transfers.set(f.id, t);
      if (f.role === 'receiver' && f.state === 'pending') {
        if (f.peer) {
          addSystem(getConv('dm', f.peer), `${f.peer} offers you a file: ${f.name} (${fmtBytes(f.size)})`, 'file');
          notify('File offered', `${f.peer} offers ${f.name} (${fmtBytes(f.size)})`, convKey('dm', f.peer));
        }
        const problem = fileNameProblem(f.name);
        if (problem) {
          send({ type: 'file_reject', id: f.id });
          setTransferState(t, 'rejected', `declined: the name is unsafe (${problem})`);
          return;
        }
      }
    }
    t.role = f.role;
    t.peer = f.peer || null;
    t.name = f.name;
    t.size = f.size;
    t.sha256 = f.sha256;
    t.by = f.by;
    t.reason = f.reason;
    const was = t.state;
    // A download's receiver sees no bytes: what the sender had sent when it paused is the only
    // figure it gets.
    if (t.sink && f.state === 'paused') t.done = f.offset;
    if (f.state === 'in_progress' && was !== 'in_progress') {
      t.started = Date.now();
      t.startedAt = f.offset;
      if (t.role === 'sender' && was !== 'paused') {
        // A new stream (accepted, or resumed after an interruption) starts at f.offset with
        // the credit the server sends after this frame.
        t.sent = f.offset;
        t.done = f.offset;
        t.credit = 0;
      }
    }
    setTransferState(t, f.state, f.reason);
    if (t.role === 'sender' && f.state === 'in_progress') {
      if (f.prefix_sha256 && f.offset > 0 && was !== 'paused') checkPrefix(t, f.offset, f.prefix_sha256);
      else pumpSend(t);
    }
    if (t.role === 'receiver') {
      if (f.state === 'in_progress' && t.accepted) {
        if (t.sink) startDownload(t);
        else grantCredit(t);
      }
      if (f.state === 'pending' && t.autoAccept && !t.accepted) acceptOffer(t);
      // The sender asks to continue: answer with what we hold and its hash.
      if (f.state === 'resuming' && t.chunks) resumeTransfer(t);
      // A download that never began (the server fails one that did): it starts over from 0.
      if (f.state === 'resuming' && t.sink && !t.downloadStarted) send({ type: 'file_accept', id: t.id, offset: 0 });
    }
  }

  // After a resume the sender checks that the receiver's bytes are a true prefix of its file,
  // and starts over from 0 if not (a chunk at offset 0 tells the receiver so).
  async function checkPrefix(t, offset, prefixHash) {
    t.checking = true;
    let ok = false;
    try { ok = (await hashFile(t.file.slice(0, offset))) === prefixHash; } catch { ok = false; }
    t.checking = false;
    if (ok) t.resumedFrom = offset;
    else { t.sent = 0; t.done = 0; t.resumedFrom = 0; console.warn(`transfer ${t.id}: the receiver's ${offset} bytes are not our file's; starting over`); }
    C.renderTransfer(t);
    pumpSend(t);
  }

  function setTransferState(t, state, reason) {
    t.state = state;
    if (reason) t.reason = reason;
    if (state === 'completed' && t.role === 'receiver') finishReceive(t);
    if (['cancelled', 'rejected', 'failed'].includes(state)) { t.chunks = null; t.hasher = null; }
    if (['completed', 'cancelled', 'rejected', 'failed'].includes(state)) { t.piece = null; t.nextPiece = null; }
    C.renderTransfer(t);
  }

  // A file another user sends goes straight to the browser's downloads: accept it (offset 0)
  // granting no credit, and once the server has the accept (in_progress), the browser fetches
  // GET /transfers/ID?key=welcome.files_key. The server grants the sender credit as that
  // download drains, checks the SHA-256 before the last bytes go out and completes the
  // transfer itself (no file_done from us); a mismatch, a download that stops or either of us
  // leaving fails it (PROTOCOL.md, Files). The tab holds none of it, whatever the size. A
  // server without files_key (older) gets the old way: credit granted here, the chunks held in
  // memory until complete, then saved from a Blob, so that way refuses big offers.
  function acceptOffer(t) {
    t.sink = !!(t.peer && S.filesKey);
    if (!t.sink && t.size > MAX_IN_MEMORY_RECEIVE) {
      toast(`${t.name} is ${fmtBytes(t.size)}: this server cannot stream it to your browser's downloads, and the page can hold at most ${fmtBytes(MAX_IN_MEMORY_RECEIVE)}. Use chat-client for it.`, 'error');
      return;
    }
    t.accepted = true;
    t.done = 0;
    if (t.sink) {
      send({ type: 'file_accept', id: t.id, offset: 0 });
      return;
    }
    t.chunks = [];
    t.hasher = new Sha256();
    t.granted = 0;
    send({ type: 'file_accept', id: t.id, offset: 0 });
    if (t.size === 0) send({ type: 'file_done', id: t.id });
  }

  // The browser downloads transfer t (a same-origin link with `download`: the page stays).
  function startDownload(t) {
    if (t.downloadStarted || !S.filesKey) return;
    t.downloadStarted = true;
    const a = document.createElement('a');
    a.href = `/transfers/${encodeURIComponent(t.id)}?key=${encodeURIComponent(S.filesKey)}`;
    a.download = t.name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
  }

  // Our connection to the server dropped: the server fails a transfer whose download had begun
  // (it cannot go on into the same file), and will not tell us once we are back.
  function sinksGone() {
    for (const t of S.transfers.values()) {
      if (t.sink && t.downloadStarted && ['in_progress', 'paused'].includes(t.state)) {
        setTransferState(t, 'failed', 'the connection to the server dropped while your browser downloaded it; ask for it again');
      }
    }
  }

  function grantCredit(t) {
    // Keep CREDIT_WINDOW bytes granted ahead of what arrived.
    const want = Math.min(t.size, t.done + CREDIT_WINDOW) - t.granted;
    if (want >= Math.min(CHUNK * 4, t.size - t.granted) && want > 0 && t.state === 'in_progress') {
      t.granted += want;
      send({ type: 'file_credit', id: t.id, bytes: want });
    }
  }

  function onChunk(buf) {
    const dv = new DataView(buf);
    if (buf.byteLength < 17) return;
    const id = Number(dv.getBigUint64(0));
    const offset = Number(dv.getBigUint64(8));
    receiveBytes(id, offset, new Uint8Array(buf, 16));
  }
  function onJsonChunk(f) {
    const bin = atob(f.data);
    const a = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    receiveBytes(f.id, f.offset, a);
  }
  function receiveBytes(id, offset, bytes) {
    const t = transferOf(id);
    if (!t || t.role !== 'receiver' || !t.chunks) return;
    if (offset === 0 && t.done > 0) { t.chunks = []; t.done = 0; t.hasher = new Sha256(); } // start over
    if (offset !== t.done) { console.warn(`transfer ${id}: chunk at ${offset}, expected ${t.done}`); return; }
    t.chunks.push(bytes.slice());
    t.hasher.update(bytes);
    t.done += bytes.length;
    grantCredit(t);
    if (t.done === t.size) {
      const got = t.hasher.hex();
      if (got === t.sha256) send({ type: 'file_done', id: t.id });
      else send({ type: 'file_failed', id: t.id, reason: `checksum mismatch: got ${got}` });
    }
    C.renderTransferSoon(t);
  }

  function finishReceive(t) {
    if (!t.chunks) return;
    const blob = new Blob(t.chunks, { type: 'application/octet-stream' });
    t.chunks = null;
    t.blobSize = blob.size;
    t.blobUrl = URL.createObjectURL(blob);
  }

  function onFileCredit(f) {
    const t = transferOf(f.id);
    if (!t || t.role !== 'sender') return;
    t.credit += f.bytes;
    pumpSend(t);
  }

  // The piece of t's file that holds byte `off`, the next one asked for as this one is used.
  function pieceAt(t, off) {
    const has = (p) => p && off >= p.off && off < p.end;
    if (!has(t.piece)) {
      t.piece = has(t.nextPiece) ? t.nextPiece : readPiece(t, off);
      t.nextPiece = null;
    }
    if (!t.nextPiece && t.piece.end < t.size) t.nextPiece = readPiece(t, t.piece.end);
    return t.piece;
  }
  function readPiece(t, off) {
    const p = { off, end: Math.min(t.size, off + READ_AHEAD), bytes: null, error: null };
    p.ready = t.file.slice(p.off, p.end).arrayBuffer().then((b) => { p.bytes = new Uint8Array(b); }, (e) => { p.error = e; });
    return p;
  }

  async function pumpSend(t) {
    if (t.sending || t.checking || !t.file) return;
    t.sending = true;
    const ws = S.ws;
    try {
      while (t.state === 'in_progress' && t.credit > 0 && t.sent < t.size && S.loggedIn && S.ws === ws) {
        if (ws.bufferedAmount > 4 * 1024 * 1024) { await new Promise((r) => setTimeout(r, 20)); continue; }
        const off = t.sent;
        const p = pieceAt(t, off);
        if (!p.bytes && !p.error) await p.ready;
        if (t.state !== 'in_progress' || t.sent !== off || S.ws !== ws) break;
        if (p.error) {
          // The file changed or went away since it was picked: nothing more can be sent.
          console.warn(`transfer ${t.id}: reading the file failed: ${p.error}`);
          t.file = null;
          t.piece = null;
          t.nextPiece = null;
          send({ type: 'file_cancel', id: t.id });
          toast(`Could not read ${t.name} to send it (was it moved or changed?); cancelled.`, 'error');
          break;
        }
        const n = Math.min(CHUNK, t.credit, p.end - off);
        const msg = new Uint8Array(16 + n);
        const dv = new DataView(msg.buffer);
        dv.setBigUint64(0, BigInt(t.id));
        dv.setBigUint64(8, BigInt(off));
        msg.set(p.bytes.subarray(off - p.off, off - p.off + n), 16);
        ws.send(msg);
        t.sent += n;
        t.done = t.sent;
        t.credit -= n;
        C.renderTransferSoon(t);
      }
    } finally {
      t.sending = false;
    }
  }

  function resumeTransfer(t) {
    if (t.state === 'paused') { send({ type: 'file_resume', id: t.id }); return; }
    if (t.role === 'receiver') {
      // Continue from what we hold, proving it with its hash.
      send({ type: 'file_accept', id: t.id, offset: t.done, prefix_sha256: t.hasher.hex() });
      t.granted = t.done;
    } else {
      send({ type: 'file_resume', id: t.id });
    }
  }

  Object.assign(C, {
    acceptOffer, offerFile, onChunk, onFileCredit, onFileState, onJsonChunk, resumeTransfer,
    setTransferState, sinksGone,
  });
})();
