// src/web/rooms.js: rooms and presence: joining and leaving, join/leave/status notices, the
// topic (shown, edited), and the user's own status and away message.
'use strict';

(() => {
  const C = window.Chat;
  const {
    $, NAME_RE, S, addSystem, convKey, getConv, refreshUsersSoon, removeConv, renderHeader,
    renderLists, renderPeople, renderTyping, requestHistory, saveLists, sendLive, stripHash,
    switchTo, toast, utf8len,
  } = C;

  function joinRoom(name) {
    const r = stripHash(name);
    if (!NAME_RE.test(r)) { toast('A room name is 1 to 32 letters, digits, "_", "-" or ".", starting with a letter or digit.', 'error'); return; }
    const c = S.convs.get(convKey('room', r));
    if (c && c.joined) { switchTo(c.key); return; }
    S.switchOnJoin = r;
    if (!sendLive({ type: 'join', room: r })) toast('Not connected: try again once the connection is back.', 'error');
  }
  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('join-name').value.trim();
    if (!v) return;
    joinRoom(v);
    $('join-name').value = '';
  });
  $('browse-rooms').addEventListener('toggle', () => { if ($('browse-rooms').open) sendLive({ type: 'list_rooms' }); });
  $('leave-room').addEventListener('click', () => {
    const c = S.convs.get(S.current);
    if (c && c.kind === 'room') sendLive({ type: 'leave', room: c.name });
  });

  function onJoined(f) {
    const c = getConv('room', f.room);
    c.joined = true;
    c.members = new Set(f.members);
    saveLists();
    if (f.created) addSystem(c, `You created #${f.room}.`);
    if (!S.current || S.switchOnJoin === f.room) { S.switchOnJoin = null; switchTo(c.key); }
    else if (S.current === c.key) renderHeader();
    renderLists();
    if (!c.historyAsked && S.current === c.key) requestHistory(c);
  }

  function onLeft(f) {
    const c = getConv('room', f.room, false);
    if (!c) return;
    c.joined = false;
    removeConv(c);
  }

  function onNotice(f) {
    switch (f.event) {
      case 'join':
      case 'leave': {
        const c = f.room && getConv('room', f.room, false);
        if (c) {
          if (f.event === 'join') c.members.add(f.user); else c.members.delete(f.user);
          addSystem(c, f.text, f.event);
          if (c.typers.has(f.user) && f.event === 'leave') { clearTimeout(c.typers.get(f.user)); c.typers.delete(f.user); renderTyping(); }
          if (S.current === c.key) renderHeader();
        }
        refreshUsersSoon();
        break;
      }
      case 'status': {
        const u = S.users.get(f.user);
        if (u && f.status) { u.status = f.status; renderPeople(); }
        if (f.user === S.me && f.status) { S.status = f.status; renderMyStatus(); }
        else refreshUsersSoon();
        break;
      }
      case 'away': {
        const c = getConv('dm', f.user);
        addSystem(c, f.text, 'away');
        break;
      }
      case 'upload': {
        const c = S.convs.get(S.current);
        if (c) addSystem(c, f.text, 'upload');
        if (!$('files-panel').hidden) sendLive({ type: 'list_files' });
        break;
      }
      default: {
        const c = S.convs.get(S.current);
        if (c) addSystem(c, f.text);
      }
    }
  }

  function onTopic(f) {
    const c = getConv('room', f.room, false);
    if (!c) return;
    // A topic frame right after joined is the room's standing topic, not news: it is shown
    // as a line only the first time, or if it changed while we were away.
    const standing = S.afterJoined === f.room;
    if (!standing || c.topic !== f.topic) {
      if (standing) addSystem(c, `Topic: ${f.topic} (set by ${f.by})`, 'topic');
      else addSystem(c, f.topic ? `${f.by} set the topic: ${f.topic}` : `${f.by} cleared the topic`, 'topic');
    }
    c.topic = f.topic;
    c.topicBy = f.by;
    if (S.current === c.key) renderHeader();
  }

  $('topic-edit').addEventListener('click', () => {
    const c = S.convs.get(S.current);
    if (!c || c.kind !== 'room') return;
    $('topic-form').hidden = false;
    $('topic-input').value = c.topic || '';
    $('topic-input').focus();
  });
  $('topic-cancel').addEventListener('click', () => { $('topic-form').hidden = true; });
  $('topic-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const c = S.convs.get(S.current);
    const t = $('topic-input').value;
    if (utf8len(t) > 512) { toast('A topic is at most 512 bytes.', 'error'); return; }
    if (c && c.kind === 'room') sendLive({ type: 'set_topic', room: c.name, topic: t });
    $('topic-form').hidden = true;
  });

  function setStatus(status, message) {
    if (!['online', 'busy', 'away'].includes(status)) { toast('A status is online, busy or away.', 'error'); return; }
    if (message && utf8len(message) > 256) { toast('An away message is at most 256 bytes.', 'error'); return; }
    S.status = status;
    S.awayMessage = status === 'away' ? message : '';
    const f = { type: 'set_status', status };
    if (status === 'away' && message) f.message = message;
    sendLive(f);
    renderMyStatus();
  }
  function renderMyStatus() {
    $('status-select').value = S.status;
    $('me-dot').className = `dot ${S.status}`;
    $('away-message').hidden = S.status !== 'away' && $('status-select').value !== 'away';
    if (document.activeElement !== $('away-message')) $('away-message').value = S.awayMessage || '';
  }
  $('status-select').addEventListener('change', () => {
    const v = $('status-select').value;
    $('away-message').hidden = v !== 'away';
    if (v !== 'away') setStatus(v, '');
    else $('away-message').focus();
  });
  $('status-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setStatus($('status-select').value, $('away-message').value.trim());
  });

  Object.assign(C, { joinRoom, onJoined, onLeft, onNotice, onTopic, renderMyStatus, setStatus });
})();
