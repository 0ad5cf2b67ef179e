// src/web/dialogs.js: the search and password dialogs, and Escape closing what is open on top.
'use strict';

(() => {
  const C = window.Chat;
  const {
    $, S, chars, closeSidebar, convKey, el, fmtTime, getConv, input, sendLive, switchTo, utf8len,
  } = C;

  // ---------------------------------------------------------------- search
  let lastSearch = null; // the frame of the search shown, for "older results"
  function openSearch() {
    $('search-panel').hidden = false;
    const c = S.convs.get(S.current);
    $('search-scope').options[0].textContent = c ? `In ${c.kind === 'room' ? `#${c.name}` : `your chat with ${c.name}`}` : 'In this conversation';
    $('search-text').focus();
  }
  function doSearch(frame) {
    lastSearch = frame;
    $('search-status').textContent = 'Searching…';
    if (!sendLive(frame)) $('search-status').textContent = 'Not connected: try again once the connection is back.';
  }
  $('search-open').addEventListener('click', openSearch);
  $('search-close').addEventListener('click', () => { $('search-panel').hidden = true; });
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('search-text').value.trim();
    if (!text) return;
    if (utf8len(text) > 256) { $('search-status').textContent = 'Search for at most 256 bytes of words.'; return; }
    const f = { type: 'search', text };
    const c = S.convs.get(S.current);
    if ($('search-scope').value === 'here' && c) { if (c.kind === 'room') f.room = c.name; else f.peer = c.name; }
    $('search-results').replaceChildren();
    doSearch(f);
  });
  $('search-more').addEventListener('click', () => { if (lastSearch && lastSearch.nextBefore) doSearch({ ...lastSearch, before: lastSearch.nextBefore, nextBefore: undefined }); });
  function onSearchResults(f) {
    const ul = $('search-results');
    for (const hit of f.results) {
      const li = el('li');
      const b = el('button');
      b.type = 'button';
      const peer = hit.room ? null : (hit.from === S.me ? hit.to : hit.from);
      const where = hit.room ? `#${hit.room}` : `with ${peer}`;
      const when = new Date(hit.ts);
      const w = el('span', 'where', `${where} · ${when.toLocaleDateString()} ${fmtTime(hit.ts)}`);
      b.append(w, el('span', 'from', hit.from), el('span', 'text', hit.text));
      b.addEventListener('click', () => {
        const key = hit.room ? convKey('room', hit.room) : getConv('dm', peer).key;
        if (S.convs.has(key)) switchTo(key);
        $('search-panel').hidden = true;
      });
      li.append(b);
      ul.append(li);
    }
    const n = ul.children.length;
    $('search-status').textContent = n ? `${n} message${n === 1 ? '' : 's'} found, newest first${f.more ? '; there are older ones' : ''}.` : `Nothing found for "${f.text}".`;
    $('search-more').hidden = !f.more;
    if (lastSearch && f.results.length) lastSearch = { ...lastSearch, nextBefore: f.results[f.results.length - 1].id };
  }

  // ---------------------------------------------------------------- password
  $('password-open').addEventListener('click', () => {
    $('password-panel').hidden = false;
    $('password-error').hidden = true;
    for (const id of ['password-old', 'password-new', 'password-again']) $(id).value = '';
    $('password-old').focus();
  });
  $('password-cancel').addEventListener('click', () => { $('password-panel').hidden = true; });
  $('password-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const old = $('password-old').value;
    const neu = $('password-new').value;
    const err = (t) => { $('password-error').hidden = false; $('password-error').textContent = t; };
    if (chars(neu) < 8) { err('A password has at least 8 characters.'); return; }
    if (utf8len(neu) > 1024) { err('A password is at most 1024 bytes.'); return; }
    if (neu !== $('password-again').value) { err('The two new passwords differ.'); return; }
    const f = { type: 'change_password', new: neu };
    if (old) f.old = old;
    S.newPassword = neu;
    if (!sendLive(f)) { err('Not connected: try again once the connection is back.'); return; }
    $('password-panel').hidden = true;
  });

  // Escape closes what is open on top: a panel, then the sidebar of a phone.
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    for (const id of ['search-panel', 'files-panel', 'password-panel']) {
      if (!$(id).hidden) { $(id).hidden = true; input.focus(); return; }
    }
    if (document.body.classList.contains('sidebar-open')) closeSidebar();
  });

  Object.assign(C, { onSearchResults, openSearch });
})();
