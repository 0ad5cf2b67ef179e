// src/web/sidebar.js: what is drawn around the messages: the conversation's header (name, topic,
// buttons), the sidebar's lists of rooms, private conversations and people online, a room's
// members, the list of all rooms, and the sidebar folding away on a phone.
'use strict';

(() => {
  const C = window.Chat;
  const { $, S, el, getConv, sendLive, switchTo } = C;

  // ---------------------------------------------------------------- header and lists
  function renderHeader() {
    const c = S.convs.get(S.current);
    const isRoom = c && c.kind === 'room';
    $('conv-name').textContent = c ? (isRoom ? `#${c.name}` : c.name) : '';
    const topic = $('conv-topic');
    if (isRoom && c.topic) {
      topic.textContent = c.topic;
      topic.title = c.topicBy ? `topic set by ${c.topicBy}` : '';
    } else if (c && !isRoom) {
      const u = S.users.get(c.name);
      topic.textContent = u ? `${u.status}` : 'offline';
      topic.title = '';
    } else {
      topic.textContent = isRoom ? `${c.members.size} member${c.members.size === 1 ? '' : 's'}` : '';
      topic.title = '';
    }
    $('topic-edit').hidden = !isRoom;
    $('search-open').hidden = !c;
    $('members-toggle').hidden = !isRoom;
    if (isRoom) $('members-toggle').textContent = `Members (${c.members.size})`;
    renderMembers();
    $('leave-room').hidden = !isRoom;
    $('call-voice').hidden = !c || isRoom;
    $('call-video').hidden = !c || isRoom;
    $('send-file').hidden = !c || isRoom;
    $('input').placeholder = c ? (isRoom ? `Message #${c.name}` : `Message ${c.name}`) : 'Message';
  }

  function renderLists() {
    const rooms = $('room-list');
    const dms = $('dm-list');
    rooms.replaceChildren();
    dms.replaceChildren();
    const sorted = [...S.convs.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const c of sorted) {
      const li = el('li');
      const b = el('button', `conv${c.key === S.current ? ' current' : ''}${c.unread ? ' unread' : ''}`);
      b.type = 'button';
      b.dataset.key = c.key;
      if (c.key === S.current) b.setAttribute('aria-current', 'page');
      if (c.kind === 'dm') {
        const u = S.users.get(c.name);
        const dot = el('span', `dot ${u ? u.status : 'offline'}`);
        dot.setAttribute('aria-hidden', 'true');
        b.append(dot);
      }
      b.append(el('span', 'conv-label', c.kind === 'room' ? `#${c.name}` : c.name));
      let label = c.kind === 'room' ? `room ${c.name}` : `private conversation with ${c.name}`;
      if (c.mention) { b.append(el('span', 'badge mention', '@')); label += ', mentions you'; }
      if (c.unread) { b.append(el('span', 'badge', String(c.unread))); label += `, ${c.unread} unread`; }
      b.setAttribute('aria-label', label);
      b.addEventListener('click', () => switchTo(c.key));
      li.append(b);
      (c.kind === 'room' ? rooms : dms).append(li);
    }
    const unread = [...S.convs.values()].reduce((n, c) => n + c.unread, 0);
    document.title = `${unread ? `(${unread}) ` : ''}chat — ${S.me || ''}`;
  }

  function renderPeople() {
    const ul = $('people-list');
    ul.replaceChildren();
    for (const [name, u] of [...S.users.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const li = el('li');
      const b = el('button', 'person');
      b.type = 'button';
      const dot = el('span', `dot ${u.status}`);
      dot.setAttribute('aria-hidden', 'true');
      b.append(dot, el('span', 'name', name));
      if (name === S.me) b.append(el('span', 'you', '(you)'));
      b.setAttribute('aria-label', `${name}, ${u.status}${u.rooms && u.rooms.length ? `, in ${u.rooms.map((r) => `#${r}`).join(' ')}` : ''}`);
      b.title = `${u.status}${u.rooms && u.rooms.length ? ` — ${u.rooms.map((r) => `#${r}`).join(' ')}` : ''}`;
      if (name !== S.me) b.addEventListener('click', () => switchTo(getConv('dm', name).key));
      else b.disabled = true;
      li.append(b);
      ul.append(li);
    }
    renderLists();
    renderHeader();
  }

  let usersTimer = null;
  function refreshUsersSoon() {
    clearTimeout(usersTimer);
    usersTimer = setTimeout(() => sendLive({ type: 'list_users' }), 400);
  }
  setInterval(() => { if (S.loggedIn) sendLive({ type: 'list_users' }); }, 30000);

  // ---------------------------------------------------------------- members
  function renderMembers() {
    const c = S.convs.get(S.current);
    const panel = $('members-panel');
    if (!c || c.kind !== 'room') { panel.hidden = true; $('members-toggle').setAttribute('aria-expanded', 'false'); return; }
    if (panel.hidden) return;
    const ul = $('members-list');
    ul.replaceChildren();
    for (const name of [...c.members].sort((a, b) => a.localeCompare(b))) {
      const u = S.users.get(name);
      const li = el('li');
      const dot = el('span', `dot ${u ? u.status : 'offline'}`);
      dot.setAttribute('aria-hidden', 'true');
      li.append(dot, el('span', 'name', name));
      li.setAttribute('aria-label', `${name}, ${u ? u.status : 'status unknown'}`);
      ul.append(li);
    }
  }
  $('members-toggle').addEventListener('click', () => {
    const panel = $('members-panel');
    panel.hidden = !panel.hidden;
    $('members-toggle').setAttribute('aria-expanded', String(!panel.hidden));
    renderMembers();
  });

  // ---------------------------------------------------------------- sidebar (phones)
  function openSidebar() { document.body.classList.add('sidebar-open'); $('menu').setAttribute('aria-expanded', 'true'); }
  function closeSidebar() { document.body.classList.remove('sidebar-open'); $('menu').setAttribute('aria-expanded', 'false'); }
  $('menu').addEventListener('click', () => (document.body.classList.contains('sidebar-open') ? closeSidebar() : openSidebar()));

  // ---------------------------------------------------------------- all rooms
  function onRoomList(f) {
    const ul = $('all-rooms');
    ul.replaceChildren();
    for (const r of f.rooms) {
      const li = el('li');
      const b = el('button', 'link', `#${r.name}`);
      b.type = 'button';
      b.addEventListener('click', () => C.joinRoom(r.name));
      li.append(b, el('span', 'count', ` ${r.members} member${r.members === 1 ? '' : 's'}`));
      ul.append(li);
    }
    if (!f.rooms.length) ul.append(el('li', 'hint', 'No rooms yet.'));
  }

  Object.assign(C, {
    closeSidebar, onRoomList, openSidebar, refreshUsersSoon, renderHeader, renderLists,
    renderMembers, renderPeople,
  });
})();
