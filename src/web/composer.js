// src/web/composer.js: writing: the message box (Enter sends, Shift+Enter a new line, Up recalls),
// sending with a cid and a pending tick until the ack, resending after a reconnect, typing
// indicators both ways, and the terminal client's slash commands.
'use strict';

(() => {
  const C = window.Chat;
  const {
    $, NAME_RE, S, appendNode, chars, connect, convKey, fmtTime, getConv, messageEl, nextCid,
    openSidebar, relayout, renderMembers, renderTicks, send, sendLive, stripHash, switchTo, toast,
    updateReconnectBanner,
  } = C;

  const MAX_TEXT_CHARS = 4000; // Unicode scalar values, as the server counts
  const TYPING_REFRESH_MS = 3000;
  const TYPING_EXPIRE_MS = 7000; // fallback if the server's active:false is lost

  // ---------------------------------------------------------------- sending
  function sendText(text) {
    const c = S.convs.get(S.current);
    if (!c) { toast('Join a room or pick someone first.', 'error'); return false; }
    if (!text.trim()) return false;
    if (text.includes('\0')) { toast('A message cannot contain NUL characters.', 'error'); return false; }
    const n = chars(text);
    if (n > MAX_TEXT_CHARS) { toast(`That message is ${n} characters long; the most is ${MAX_TEXT_CHARS}.`, 'error'); return false; }
    const cid = nextCid();
    const frame = c.kind === 'room' ? { type: 'room_msg', room: c.name, text, cid } : { type: 'private_msg', to: c.name, text, cid };
    const rec = { id: null, cid, ts: Date.now(), from: S.me, text, own: true, conv: c.key, recipients: null };
    const node = messageEl(rec);
    node.classList.add('pending');
    appendNode(c, node);
    S.pending.push({ cid, frame, rec });
    S.lastSentText = text;
    S.typing.key = null; // the message ends our typing state on the server
    if (S.loggedIn) send(frame);
    else updateReconnectBanner();
    return true;
  }

  function onAck(f) {
    const i = S.pending.findIndex((p) => p.cid === f.cid);
    if (i < 0) return;
    const { rec } = S.pending[i];
    S.pending.splice(i, 1);
    const c = S.convs.get(rec.conv);
    rec.id = f.id;
    rec.ts = f.ts;
    rec.recipients = f.recipients;
    rec.el.dataset.id = f.id;
    rec.el.dataset.ts = f.ts;
    rec.el.classList.remove('pending');
    const time = rec.el.querySelector('time');
    time.textContent = fmtTime(f.ts);
    time.dateTime = new Date(f.ts).toISOString();
    if (c) {
      c.msgs.set(f.id, rec);
      if (f.id > c.lastId) c.lastId = f.id;
      if (c.firstId === null || f.id < c.firstId) c.firstId = f.id;
      // Sent from the queue after a reconnect: what we missed (older) came first. Keep the
      // conversation in id order.
      let after = null;
      for (let n = rec.el.nextElementSibling; n; n = n.nextElementSibling) {
        if (n.classList.contains('msg') && n.dataset.id && Number(n.dataset.id) < f.id) after = n;
      }
      if (after) { after.after(rec.el); relayout(c); }
    }
    if (f.id > S.maxSeen) S.maxSeen = f.id;
    renderTicks(rec, c);
  }

  function resendPending() {
    for (const p of S.pending) { send(p.frame); renderTicks(p.rec); }
  }

  // ---------------------------------------------------------------- typing
  function startTypingMaybe() {
    const c = S.convs.get(S.current);
    if (!c || !S.loggedIn) return;
    const text = $('input').value;
    if (!text.trim() || text.startsWith('/')) { stopTyping(); return; }
    const now = Date.now();
    if (S.typing.key === c.key && now - S.typing.at < TYPING_REFRESH_MS) return;
    S.typing = { key: c.key, at: now };
    send(c.kind === 'room' ? { type: 'typing', room: c.name, active: true } : { type: 'typing', to: c.name, active: true });
  }
  function stopTyping() {
    const key = S.typing.key;
    if (!key) return;
    S.typing = { key: null, at: 0 };
    const c = S.convs.get(key);
    if (!c || !S.loggedIn) return;
    send(c.kind === 'room' ? { type: 'typing', room: c.name, active: false } : { type: 'typing', to: c.name, active: false });
  }
  // Keep the refresh going while the box holds text and the user is still around.
  setInterval(() => { if (S.typing.key && Date.now() - S.typing.at >= TYPING_REFRESH_MS && S.lastKeyAt > Date.now() - TYPING_REFRESH_MS) startTypingMaybe(); }, 1000);

  function onTyping(f) {
    if (f.from === S.me) return;
    const c = f.room ? getConv('room', f.room, false) : getConv('dm', f.from, f.active);
    if (!c) return;
    clearTimeout(c.typers.get(f.from));
    if (f.active) {
      c.typers.set(f.from, setTimeout(() => { c.typers.delete(f.from); renderTyping(); }, TYPING_EXPIRE_MS));
    } else {
      c.typers.delete(f.from);
    }
    renderTyping();
  }
  function clearTypingOf(c) { for (const t of c.typers.values()) clearTimeout(t); c.typers.clear(); }

  function renderTyping() {
    const c = S.convs.get(S.current);
    const names = c ? [...c.typers.keys()] : [];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    $('typing').textContent = text;
  }

  // ---------------------------------------------------------------- the box and commands
  const input = $('input');
  function autosize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  }
  input.addEventListener('input', () => { S.lastKeyAt = Date.now(); autosize(); startTypingMaybe(); });
  input.addEventListener('blur', () => stopTyping());
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submitInput();
    } else if (ev.key === 'ArrowUp' && input.value === '' && S.lastSentText) {
      ev.preventDefault();
      input.value = S.lastSentText;
      autosize();
    }
  });
  $('composer').addEventListener('submit', (ev) => { ev.preventDefault(); submitInput(); input.focus(); });

  function submitInput() {
    const text = input.value;
    if (!text.trim()) return;
    let ok;
    if (text.startsWith('/') && !text.startsWith('//')) ok = command(text);
    else ok = sendText(text.startsWith('//') ? text.slice(1) : text);
    if (ok) { input.value = ''; autosize(); stopTyping(); }
  }

  // A few of the terminal client's commands, for those who know them (the server's error
  // sentences mention some, e.g. "/join lab creates it").
  function command(line) {
    const [cmd, ...rest] = line.slice(1).split(/\s+/);
    const arg = line.slice(1 + cmd.length).trim();
    const c = S.convs.get(S.current);
    switch (cmd.toLowerCase()) {
      case 'join': if (!rest[0]) return false; C.joinRoom(rest[0]); return true;
      case 'create': if (!rest[0]) return false; sendLive({ type: 'create_room', room: stripHash(rest[0]) }); return true;
      case 'leave': { const r = rest[0] ? stripHash(rest[0]) : c && c.kind === 'room' && c.name; if (r) sendLive({ type: 'leave', room: r }); return true; }
      case 'msg':
      case 'query': {
        const who = rest[0];
        if (!who) return false;
        let key;
        if (who.startsWith('#')) key = convKey('room', who.slice(1));
        else if (NAME_RE.test(who) && who !== S.me) key = getConv('dm', who).key;
        if (!key || !S.convs.has(key)) { toast(`No conversation ${who}: /join a room, or name someone.`, 'error'); return false; }
        switchTo(key);
        const msg = arg.slice(who.length).trim();
        if (msg) sendText(msg);
        return true;
      }
      case 'me': if (!arg) return false; return sendText(`* ${S.me} ${arg}`);
      case 'status': C.setStatus(rest[0] || 'online', ''); return true;
      case 'away': C.setStatus(arg ? 'away' : 'online', arg); return true;
      case 'topic': if (c && c.kind === 'room') { if (arg) sendLive({ type: 'set_topic', room: c.name, topic: arg }); else toast(c.topic ? `Topic of #${c.name}: ${c.topic}` : `#${c.name} has no topic.`); } return true;
      case 'call': if (rest[0]) C.startCall(rest[0], rest[1] === 'video' ? 'video' : 'voice'); return true;
      case 'hangup': C.hangup(); return true;
      case 'users': sendLive({ type: 'list_users' }); toast('The list of people is in the sidebar.'); openSidebar(); return true;
      case 'rooms': $('browse-rooms').open = true; sendLive({ type: 'list_rooms' }); openSidebar(); return true;
      case 'files': C.openFiles(); return true;
      case 'search': if (!arg) return false; C.openSearch(); $('search-text').value = arg; $('search-scope').value = 'all'; $('search-form').requestSubmit(); return true;
      case 'names': $('members-panel').hidden = false; renderMembers(); return true;
      case 'passwd': $('password-open').click(); return true;
      case 'reconnect': if (!S.loggedIn && !S.stopped) { S.retries = 0; connect(); } return true;
      case 'quit': case 'logout': C.logout(); return true;
      case 'help':
        toast('Commands: /join ROOM, /create ROOM, /leave [ROOM], /msg NAME TEXT, /query NAME, /me ACTION, /status online|busy|away, /away [MESSAGE], /topic [TEXT], /call NAME [video], /hangup, /users, /rooms, /names, /search WORDS, /files, /passwd, /reconnect, /quit. Start a message with // to send a leading /.');
        return true;
      default:
        toast(`Unknown command /${cmd}. /help lists the commands; start with // to send a message beginning with /.`, 'error');
        return false;
    }
  }

  Object.assign(C, {
    clearTypingOf, input, onAck, onTyping, renderTyping, resendPending, stopTyping,
  });
})();
