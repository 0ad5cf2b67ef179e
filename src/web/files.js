// src/web/files.js: files as the user sees them: a card per transfer (progress, rate, buttons,
// Save for a file received in memory; one received as a browser download says so, as the page
// sees none of its bytes), picking a file to send, the shared store's dialog (downloads over
// HTTP), and dropping files on the page to upload them.
'use strict';

(() => {
  const C = window.Chat;
  const {
    $, MAX_IN_MEMORY_RECEIVE, S, acceptOffer, el, fmtBytes, fmtDuration, nextCid, offerFile,
    resumeTransfer, send, sendLive, toast,
  } = C;

  const renderSoon = new Set();
  function renderTransferSoon(t) {
    if (renderSoon.has(t)) return;
    renderSoon.add(t);
    setTimeout(() => { renderSoon.delete(t); renderTransfer(t); }, 250);
  }

  function renderTransfer(t) {
    if (t.dismissed) return;
    if (!t.card) {
      t.card = el('div', 'transfer');
      t.card.setAttribute('role', 'group');
      $('transfers').append(t.card);
    }
    const card = t.card;
    card.replaceChildren();
    card.dataset.id = t.id ?? '';
    card.dataset.state = t.state;
    if (t.resumedFrom !== undefined) card.dataset.resumedFrom = t.resumedFrom;
    const who = t.role === 'sender' ? (t.peer ? `to ${t.peer}` : 'to the shared store') : (t.peer ? `from ${t.peer}` : 'from the shared store');
    const head = el('div', 'transfer-head');
    head.append(el('strong', 'fname', t.name), el('span', 'who', ` ${who} · ${fmtBytes(t.size)}`));
    card.setAttribute('aria-label', `file ${t.name} ${who}`);
    const stateLine = el('div', 'transfer-state');
    let text = t.state.replace('_', ' ');
    if (t.state === 'hashing') text = `checking the file (SHA-256) ${t.size ? Math.floor(100 * (t.hashed || 0) / t.size) : 100}%`;
    const sink = t.role === 'receiver' && t.sink;
    if (sink && (t.state === 'in_progress' || t.state === 'paused')) {
      // The server feeds the browser's download; the page sees no bytes, and hears how far
      // the sender got only when it pauses.
      const bar = el('progress'); // no value while it runs: indeterminate
      if (t.state === 'paused') {
        const pct = t.size ? Math.floor(100 * t.done / t.size) : 100;
        text = `paused${t.by ? ` by ${t.by}` : ''} at ${pct}%: your browser's download waits`;
        bar.max = t.size || 1;
        bar.value = t.done;
        bar.setAttribute('aria-label', `${t.name}: ${pct}%`);
      } else {
        text = 'downloading in your browser (see its downloads)';
        bar.setAttribute('aria-label', `${t.name}: downloading in your browser`);
      }
      card.append(head, bar);
    } else if (t.state === 'in_progress' || t.state === 'paused') {
      const pct = t.size ? Math.floor(100 * t.done / t.size) : 100;
      const secs = (Date.now() - (t.started || Date.now())) / 1000;
      const rate = secs > 0.5 ? (t.done - (t.startedAt || 0)) / secs : 0;
      const eta = rate > 0 ? (t.size - t.done) / rate : Infinity;
      text = `${t.state === 'paused' ? `paused${t.by ? ` by ${t.by}` : ''}, ` : ''}${pct}% · ${fmtBytes(t.done)} of ${fmtBytes(t.size)}${rate ? ` · ${fmtBytes(rate)}/s · ETA ${fmtDuration(eta)}` : ''}`;
      const bar = el('progress');
      bar.max = t.size || 1;
      bar.value = t.done;
      bar.setAttribute('aria-label', `${t.name}: ${pct}%`);
      card.append(head, bar);
    } else {
      card.append(head);
    }
    if (sink && t.state === 'completed') text = 'completed: saved by your browser (see its downloads)';
    if (t.reason && ['failed', 'rejected', 'cancelled', 'interrupted'].includes(t.state)) text += `: ${t.reason}`;
    else if (t.by && ['cancelled', 'rejected'].includes(t.state)) text += ` by ${t.by}`;
    stateLine.textContent = text;
    card.append(stateLine);
    const actions = el('div', 'transfer-actions');
    const button = (label, fn, cls) => { const b = el('button', `small ${cls || ''}`, label); b.type = 'button'; b.addEventListener('click', fn); actions.append(b); };
    const live = !['completed', 'cancelled', 'rejected', 'failed', 'hashing', 'offering'].includes(t.state);
    if (t.role === 'receiver' && t.state === 'pending' && !t.accepted) {
      button('Accept', () => acceptOffer(t), 'ok');
      button('Reject', () => send({ type: 'file_reject', id: t.id }), 'danger');
    } else if (live) {
      if (t.state === 'in_progress') button('Pause', () => send({ type: 'file_pause', id: t.id }));
      if (t.state === 'paused' || (t.state === 'interrupted' && (t.role === 'sender' ? t.file : t.chunks))) {
        button('Resume', () => resumeTransfer(t));
      }
      button('Cancel', () => send({ type: 'file_cancel', id: t.id }), 'danger');
    }
    if (t.blobUrl) {
      const a = el('a', 'button small ok', 'Save');
      a.href = t.blobUrl;
      a.download = t.name;
      a.dataset.size = t.blobSize;
      a.setAttribute('aria-label', `Save ${t.name}`);
      actions.append(a);
    }
    if (!live && t.state !== 'pending') button('Dismiss', () => { t.dismissed = true; card.remove(); t.card = null; if (t.blobUrl) URL.revokeObjectURL(t.blobUrl); S.transfers.delete(t.id ?? t.cid); });
    card.append(actions);
  }

  $('send-file').addEventListener('click', () => $('offer-input').click());
  $('offer-input').addEventListener('change', () => {
    const c = S.convs.get(S.current);
    const file = $('offer-input').files[0];
    $('offer-input').value = '';
    if (file && c && c.kind === 'dm') offerFile(file, c.name);
  });

  // Shared store
  function openFiles() {
    $('files-panel').hidden = false;
    sendLive({ type: 'list_files' });
    $('files-close').focus();
  }
  $('files-open').addEventListener('click', openFiles);
  $('files-close').addEventListener('click', () => { $('files-panel').hidden = true; });
  $('files-refresh').addEventListener('click', () => sendLive({ type: 'list_files' }));
  $('upload-input').addEventListener('change', () => {
    const file = $('upload-input').files[0];
    $('upload-input').value = '';
    if (file) offerFile(file, null);
  });
  function onFileList(f) {
    const body = $('files-body');
    body.replaceChildren();
    for (const file of f.files) {
      const tr = el('tr');
      tr.append(el('td', 'fname', file.name), el('td', 'num', fmtBytes(file.size)), el('td', '', file.uploader), el('td', '', new Date(file.ts).toLocaleString()));
      const td = el('td');
      if (S.filesKey) {
        // The browser's own download manager fetches it over HTTP (streamed to disk, resumable):
        // nothing is held in the page's memory, whatever the size.
        const a = el('a', 'button small', 'Download');
        const href = () => `/files/${encodeURIComponent(file.name)}?key=${encodeURIComponent(S.filesKey)}`;
        a.href = href();
        a.download = file.name;
        a.setAttribute('aria-label', `Download ${file.name}`);
        a.addEventListener('click', () => { a.href = href(); }); // the key changes with each login
        td.append(a);
        tr.append(td);
        body.append(tr);
        continue;
      }
      // A server without HTTP downloads: fetch it over the WebSocket, into memory.
      const b = el('button', 'small', 'Download');
      b.type = 'button';
      b.setAttribute('aria-label', `Download ${file.name}`);
      b.addEventListener('click', () => {
        if (file.size > MAX_IN_MEMORY_RECEIVE) { toast(`${file.name} is too big for the page for now (${fmtBytes(MAX_IN_MEMORY_RECEIVE)} at most); use chat-client.`, 'error'); return; }
        const cid = nextCid();
        const t = { id: null, cid, role: 'receiver', peer: null, name: file.name, size: file.size, state: 'requested', done: 0, credit: 0, autoAccept: true };
        S.transfers.set(cid, t);
        renderTransfer(t);
        sendLive({ type: 'download', name: file.name, cid });
      });
      td.append(b);
      tr.append(td);
      body.append(tr);
    }
    if (!f.files.length) { const tr = el('tr'); const td = el('td', 'hint', 'The store is empty.'); td.colSpan = 5; tr.append(td); body.append(tr); }
  }
  // Drag and drop onto the page: upload to the store.
  let dragDepth = 0;
  window.addEventListener('dragenter', (ev) => {
    if (!S.loggedIn || !ev.dataTransfer || ![...ev.dataTransfer.types].includes('Files')) return;
    dragDepth++;
    $('drop-overlay').hidden = false;
  });
  window.addEventListener('dragleave', () => { if (--dragDepth <= 0) { dragDepth = 0; $('drop-overlay').hidden = true; } });
  window.addEventListener('dragover', (ev) => { if (ev.dataTransfer && [...ev.dataTransfer.types].includes('Files')) ev.preventDefault(); });
  window.addEventListener('drop', (ev) => {
    dragDepth = 0;
    $('drop-overlay').hidden = true;
    if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
    ev.preventDefault();
    for (const file of ev.dataTransfer.files) offerFile(file, null);
  });

  Object.assign(C, { onFileList, openFiles, renderTransfer, renderTransferSoon });
})();
