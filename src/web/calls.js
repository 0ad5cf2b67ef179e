// src/web/calls.js: calls (signalling only, as in the terminal client): placing one, the
// incoming-call dialog with a ring, the call bar with its clock, and how a call ended.
'use strict';

(() => {
  const C = window.Chat;
  const { $, S, addSystem, convKey, fmtDuration, getConv, notify, sendLive, toast } = C;

  let audioCtx = null;
  function unlockAudio() {
    try {
      if (!audioCtx) audioCtx = new (window.AudioContext || window.webkitAudioContext)();
      if (audioCtx.state === 'suspended') audioCtx.resume();
    } catch { audioCtx = null; }
  }
  // Browsers start audio only after a gesture: the first click or key unlocks it, so that a
  // page that logged in by itself (from its stored session) can still ring.
  for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, unlockAudio, { once: true, capture: true });
  let ringTimer = null;
  function ring(on) {
    clearInterval(ringTimer);
    ringTimer = null;
    if (!on || !audioCtx) return;
    const burst = () => {
      const t0 = audioCtx.currentTime;
      for (const [i, freq] of [[0, 880], [1, 660], [2, 880], [3, 660]]) {
        const o = audioCtx.createOscillator();
        const g = audioCtx.createGain();
        o.type = 'sine';
        o.frequency.value = freq;
        const s = t0 + i * 0.2;
        g.gain.setValueAtTime(0.0001, s);
        g.gain.exponentialRampToValueAtTime(0.2, s + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, s + 0.18);
        o.connect(g).connect(audioCtx.destination);
        o.start(s);
        o.stop(s + 0.2);
      }
    };
    burst();
    ringTimer = setInterval(burst, 2000);
  }

  function startCall(peer, media) {
    if (S.call) { toast('You are already in a call: hang up first.', 'error'); return; }
    unlockAudio();
    if (!sendLive({ type: 'call', to: peer, media })) toast('Not connected.', 'error');
  }
  $('call-voice').addEventListener('click', () => { const c = S.convs.get(S.current); if (c && c.kind === 'dm') startCall(c.name, 'voice'); });
  $('call-video').addEventListener('click', () => { const c = S.convs.get(S.current); if (c && c.kind === 'dm') startCall(c.name, 'video'); });
  function hangup() { if (S.call) sendLive({ type: 'hangup', call: S.call.id }); }
  $('call-hangup').addEventListener('click', hangup);
  $('call-accept').addEventListener('click', () => { if (S.call) sendLive({ type: 'call_accept', call: S.call.id }); ring(false); $('call-dialog').hidden = true; });
  $('call-decline').addEventListener('click', () => { if (S.call) sendLive({ type: 'call_decline', call: S.call.id }); ring(false); $('call-dialog').hidden = true; });

  let callClock = null;
  function renderCallBar() {
    clearInterval(callClock);
    const bar = $('call-bar');
    const call = S.call;
    if (!call || call.state === 'ringing-in') { bar.hidden = true; return; }
    bar.hidden = false;
    const kind = call.media === 'video' ? 'video call' : 'call';
    if (call.state === 'ringing-out') $('call-text').textContent = `Calling ${call.peer} (${kind})… ringing`;
    else {
      const tick = () => { $('call-text').textContent = `In a ${kind} with ${call.peer} — ${fmtDuration((Date.now() - call.since) / 1000)} (signalling only: talk in your usual voice app)`; };
      tick();
      callClock = setInterval(tick, 1000);
    }
  }

  function onCall(f) {
    switch (f.type) {
      case 'call_ringing':
        S.call = { id: f.call, peer: f.to, media: f.media, state: 'ringing-out' };
        addSystem(getConv('dm', f.to), `Calling ${f.to}…`, 'call');
        break;
      case 'call_incoming': {
        S.call = { id: f.call, peer: f.from, media: f.media, state: 'ringing-in' };
        $('call-dialog-text').textContent = `${f.from} is calling you (${f.media === 'video' ? 'video' : 'voice'}).`;
        $('call-dialog').hidden = false;
        $('call-accept').focus();
        ring(true);
        addSystem(getConv('dm', f.from), `${f.from} is calling you`, 'call');
        notify('Incoming call', `${f.from} is calling you`, convKey('dm', f.from));
        break;
      }
      case 'call_accepted':
        S.call = { id: f.call, peer: f.peer, media: f.media, state: 'active', since: Date.now() };
        ring(false);
        $('call-dialog').hidden = true;
        addSystem(getConv('dm', f.peer), `Call with ${f.peer} connected`, 'call');
        break;
      case 'call_ended': {
        const wasIncoming = S.call && S.call.id === f.call && S.call.state === 'ringing-in';
        let text;
        switch (f.reason) {
          case 'busy': text = `${f.peer} is busy in another call`; break;
          case 'declined': text = f.by === S.me ? `You declined the call from ${f.peer}` : `${f.peer} declined the call`; break;
          case 'missed': text = wasIncoming ? `Missed call from ${f.peer}` : `${f.peer} did not answer`; break;
          case 'disconnected': text = `Call ended: ${f.by && f.by !== S.me ? f.by : f.peer} lost their connection`; break;
          default: text = `Call with ${f.peer} ended${f.by ? ` (${f.by === S.me ? 'you' : f.by} hung up)` : ''}`;
        }
        addSystem(getConv('dm', f.peer), text, `call ${f.reason}`);
        if (!S.call || S.call.id === f.call) S.call = null;
        ring(false);
        $('call-dialog').hidden = true;
        break;
      }
      default:
    }
    renderCallBar();
  }
  function endCallUi(why) {
    if (S.call) addSystem(getConv('dm', S.call.peer), `Call with ${S.call.peer} ended: ${why}`, 'call');
    S.call = null;
    ring(false);
    $('call-dialog').hidden = true;
    renderCallBar();
  }

  Object.assign(C, { endCallUi, hangup, onCall, startCall, unlockAudio });
})();
