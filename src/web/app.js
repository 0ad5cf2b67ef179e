// src/web/app.js: the last of the page's scripts: the login form, logging out, and the start:
// a page with a stored session logs back in by itself, else it shows the form.
'use strict';

(() => {
  const C = window.Chat;
  const {
    $, LS, NAME_RE, S, chars, connect, getConv, lsGet, lsJson, lsSet, send, stopTyping, stripHash,
    unlockAudio,
  } = C;

  // ---------------------------------------------------------------- login
  function loginError(text) {
    const e = $('login-error');
    e.hidden = !text;
    e.textContent = text || '';
  }
  function setLoginBusy(busy) {
    $('login-submit').disabled = busy;
    $('login-submit').textContent = busy ? 'Logging in…' : 'Log in';
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    unlockAudio();
    const name = $('login-name').value.trim();
    const password = $('login-password').value;
    const room = stripHash($('login-room').value || 'general') || 'general';
    if (!NAME_RE.test(name)) {
      loginError('A name is 1 to 32 letters, digits, "_", "-" or ".", starting with a letter or digit.');
      return;
    }
    if (!NAME_RE.test(room)) {
      loginError('A room name is 1 to 32 letters, digits, "_", "-" or ".", starting with a letter or digit.');
      return;
    }
    if (password && chars(password) < 8) {
      loginError('A password has at least 8 characters. Leave it empty to use an unregistered name.');
      return;
    }
    if (S.everLoggedIn && name !== S.me) {
      // Another name after this page was logged in: start from a clean page.
      lsSet(LS.name, name);
      lsSet(LS.session, null);
      lsSet(LS.rooms, null);
      lsSet(LS.dms, null);
      location.reload();
      return;
    }
    if (name !== lsGet(LS.name)) { S.session = null; lsSet(LS.rooms, null); lsSet(LS.dms, null); }
    S.me = name;
    S.password = password || null;
    S.loginRoom = room;
    S.loginAttempted = true;
    S.stopped = false;
    loginError(null);
    setLoginBusy(true);
    connect();
  });

  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('me-name').textContent = S.me;
    document.title = `chat — ${S.me}`;
    if ('Notification' in window && Notification.permission === 'default') $('notify-enable').hidden = false;
    S.notifyOk = 'Notification' in window && Notification.permission === 'granted';
  }

  function showLogin(message) {
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-name').value = S.me || lsGet(LS.name) || '';
    $('login-password').value = '';
    setLoginBusy(false);
    loginError(message);
    (S.me ? $('login-password') : $('login-name')).focus();
  }

  // Sentences for refused logins; the server's own sentence is used for everything else.
  function loginSentence(f) {
    switch (f.code) {
      case 'auth_required': return `"${S.me}" is a registered name: enter its password.`;
      case 'bad_password': return 'That password is wrong for this name.';
      case 'invalid':
      case 'name_taken':
      case 'too_many_attempts':
      case 'version_mismatch':
      default: return f.message;
    }
  }

  function logout() {
    S.stopped = true;
    stopTyping();
    send({ type: 'logout' });
    lsSet(LS.session, null);
    S.session = null;
    S.password = null;
    setTimeout(() => location.reload(), 300);
  }
  $('logout').addEventListener('click', logout);

  // ---------------------------------------------------------------- start
  function start() {
    const name = lsGet(LS.name);
    $('login-name').value = name || '';
    if (name && S.session && NAME_RE.test(name)) {
      // Coming back to the page: try the stored session (an open name needs no password).
      S.me = name;
      for (const r of lsJson(LS.rooms, [])) if (typeof r === 'string' && NAME_RE.test(r)) { const c = getConv('room', r); c.joined = true; }
      S.loginAttempted = true;
      setLoginBusy(true);
      connect();
    } else {
      $('login-name').focus();
    }
  }
  // Exported before the start: a connection that fails at once calls back into this script.
  Object.assign(C, { loginError, loginSentence, logout, setLoginBusy, showApp, showLogin });

  $('composer').hidden = true;
  start();
})();
