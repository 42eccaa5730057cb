// The wskit chat page: joins one room over the chat server's WebSocket,
// shows messages and presence, and survives dropped connections by
// reconnecting with backoff and resuming from the last message id it saw.
// When the server requires a token, the page takes it from its URL
// (?token=) or asks for it, and the name comes from the token; a session
// the server ends (token expired, removed) is not reconnected.
// Plain browser JavaScript, served as-is: no build step, no dependencies.
'use strict';

(() => {
  // Names and rooms as the server accepts them: it refuses anything else with
  // HTTP 400, which a browser cannot read, so the page checks first and says
  // why. The rules come from the server itself (/chat-rules.js, made from
  // apps/chat/messages.ts), so the two cannot drift apart.
  const RULES = window.WSKIT_CHAT_RULES;
  const ROOM_PATTERN = new RegExp(RULES.roomPattern, 'u');
  const NAME_PATTERN = new RegExp(RULES.namePattern, 'u');
  const LABEL_CHAR = new RegExp(RULES.labelChar, 'u');
  const LONE_SURROGATE = new RegExp(RULES.loneSurrogate, 'u');
  const NAME_MAX = RULES.maxNameLength;
  /** The server's text limit in UTF-8 bytes; longer messages only earn an error frame. */
  const TEXT_MAX_BYTES = RULES.maxTextBytes;
  // Whether /ws requires a token, from the same server-made script as the rules.
  const AUTH = window.WSKIT_CHAT_AUTH || { required: false, cookie: null, leewaySeconds: 0 };
  /** Close codes that end a session for good: reconnecting would only be refused again. */
  const CLOSE_TOKEN_EXPIRED = 4001;
  const CLOSE_REMOVED = 4003;
  /** Reconnect delays double from `initial` up to `max`; each is jittered to spread a thundering herd. */
  const BACKOFF = { initial: 250, max: 5000 };
  /** A connection attempt still not open after this long is abandoned and retried. */
  const CONNECT_TIMEOUT = 10000;
  /** Bounds so a long-lived tab does not grow without limit. */
  const MAX_SHOWN = 500;
  const MAX_SEEN = 2000;
  const NOTICE_MS = 6000;
  /** Names listed at first, and added by each "show more" (through `who` pages in a counted room). */
  const NAMES_SHOWN = 50;

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('status'),
    retry: $('retry'),
    roomTitle: $('room-title'),
    joinForm: $('join'),
    joinNameField: $('join-name-field'),
    joinName: $('join-name'),
    joinTokenField: $('join-token-field'),
    joinToken: $('join-token'),
    joinRoom: $('join-room'),
    joinError: $('join-error'),
    chat: $('chat'),
    messages: $('messages'),
    users: $('users'),
    usersCount: $('users-count'),
    usersMore: $('users-more'),
    leave: $('leave'),
    sendForm: $('send'),
    sendText: $('send-text'),
    sendButton: $('send-button'),
    notice: $('notice'),
  };

  /** Everything about the current room; replaced on every join. */
  let session = null;
  let noticeTimer = 0;

  // ---- validation -------------------------------------------------------

  /** Returns why `value` is not an acceptable name or room, or '' when it is. */
  function invalidReason(kind, value) {
    const label = kind === 'name' ? 'Name' : 'Room';
    const chars = [...value];
    if (chars.length === 0) return `${label} is empty: use 1 to ${NAME_MAX} characters`;
    if (chars.length > NAME_MAX) {
      return `${label} is ${chars.length} characters, over the limit of ${NAME_MAX}`;
    }
    const pattern = kind === 'name' ? NAME_PATTERN : ROOM_PATTERN;
    if (LONE_SURROGATE.test(value) || !pattern.test(value)) {
      const bad = chars.find((ch) => ch !== ' ' && !LABEL_CHAR.test(ch));
      const spaces = kind === 'name' ? ', and single spaces between words' : ' (no spaces)';
      const what = bad === undefined ? 'has a misplaced space' : `contains "${bad}"`;
      return `${label} ${what}: use letters, digits, _ - and .${spaces}`;
    }
    return '';
  }

  // ---- tokens (servers with auth on) -----------------------------------

  /**
   * Reads the claims of a JSON Web Token without checking its signature:
   * the page only shows the name and warns early about a token the server
   * would refuse (a browser cannot read the reason of a refused WebSocket).
   * Returns { name, rooms, exp } (exp in seconds, or null) or { error }.
   */
  function readToken(token) {
    const parts = token.split('.');
    if (parts.length !== 3) return { error: 'This is not an access token (expected three parts separated by dots)' };
    let claims;
    try {
      const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
      const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '='));
      claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    } catch {
      return { error: 'This access token cannot be read' };
    }
    if (!claims || typeof claims !== 'object' || typeof claims.sub !== 'string') {
      return { error: 'This access token names no user (it has no sub claim)' };
    }
    const nameReason = invalidReason('name', claims.sub);
    if (nameReason) return { error: `The name in this access token cannot be used: ${nameReason}` };
    if (typeof claims.exp === 'number' && expired(claims.exp)) {
      return { error: 'This access token has expired: get a fresh one' };
    }
    const rooms = claims.rooms;
    if (rooms !== undefined && !(Array.isArray(rooms) && rooms.every((room) => typeof room === 'string'))) {
      return { error: 'This access token has a malformed rooms claim' };
    }
    return { name: claims.sub, rooms: rooms === undefined ? null : rooms, exp: typeof claims.exp === 'number' ? claims.exp : null };
  }

  /** The server's rule: without a rooms claim any room; an entry ending in * is a prefix. */
  function tokenAllows(claims, room) {
    if (claims.rooms === null) return true;
    return claims.rooms.some((entry) => (entry.endsWith('*') ? room.startsWith(entry.slice(0, -1)) : entry === room));
  }

  /** The token in the sign-in cookie when the page can read it (not HttpOnly), or ''. */
  function cookieToken() {
    if (!AUTH.cookie) return '';
    for (const pair of document.cookie.split(';')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim() === AUTH.cookie) return pair.slice(eq + 1).trim();
    }
    return '';
  }

  // ---- message ids ------------------------------------------------------

  // Ids are opaque, but the server's are "<ms>-<seq>" and increase within a
  // room; when both ids have that shape, ordering uses it, otherwise arrival
  // order is trusted.
  const ID_SHAPE = /^(\d+)(?:-(\d+))?$/;
  function compareIds(a, b) {
    const ma = ID_SHAPE.exec(a);
    const mb = ID_SHAPE.exec(b);
    if (!ma || !mb) return null;
    const ms = Number(ma[1]) - Number(mb[1]);
    if (ms !== 0) return ms;
    return Number(ma[2] || 0) - Number(mb[2] || 0);
  }

  // ---- connection state -------------------------------------------------

  function setState(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text || state;
    ui.retry.hidden = state !== 'reconnecting';
  }

  /** Shows a short message that hides itself; `kind` 'connection' notices go once back online. */
  function showNotice(text, kind = 'info') {
    ui.notice.textContent = text;
    ui.notice.dataset.kind = kind;
    ui.notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { ui.notice.hidden = true; }, NOTICE_MS);
  }

  /** Whether a token with this exp (seconds, or null) is past what the server accepts. */
  function expired(exp) {
    return exp !== null && (exp + AUTH.leewaySeconds) * 1000 <= Date.now();
  }

  function connect(s) {
    clearTimers(s);
    if (!s.wanted) return;
    // A token that ran out while we were away would only be refused, again and again.
    if (expired(s.exp)) {
      endSession(s, 'expired', 'session expired', 'Your session expired: leave the room and join again with a fresh access token.');
      return;
    }
    setState('connecting', 'connecting…');
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = '';
    url.hash = '';
    url.searchParams.set('room', s.room);
    // With auth on the server takes the name from the token (a cookie travels by itself).
    if (s.token) url.searchParams.set('token', s.token);
    else if (!AUTH.required) url.searchParams.set('name', s.name);
    if (s.lastId !== null) url.searchParams.set('since', s.lastId);

    let ws;
    try {
      ws = new WebSocket(url.href);
    } catch (err) {
      showNotice(`Cannot connect: ${err.message}`);
      scheduleReconnect(s);
      return;
    }
    s.ws = ws;
    let opened = false;
    // A new connection starts from a new snapshot; a pending `who` died with the old one.
    s.presence.count = null;
    s.presence.asking = false;
    s.connectTimer = setTimeout(() => {
      if (ws.readyState === WebSocket.CONNECTING) ws.close();
    }, CONNECT_TIMEOUT);

    ws.addEventListener('open', () => {
      if (s.ws !== ws) return;
      opened = true;
      clearTimeout(s.connectTimer);
      setState('online');
      if (ui.notice.dataset.kind === 'connection') ui.notice.hidden = true;
    });
    ws.addEventListener('message', (event) => {
      if (s.ws !== ws || typeof event.data !== 'string') return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame === 'object') handleFrame(s, frame);
    });
    ws.addEventListener('close', (event) => {
      if (s.ws !== ws) return;
      s.ws = null;
      clearTimeout(s.connectTimer);
      if (!s.wanted) return;
      if (event.code === CLOSE_TOKEN_EXPIRED) {
        endSession(s, 'expired', 'session expired', 'Your session expired: leave the room and join again with a fresh access token.');
        return;
      }
      if (event.code === CLOSE_REMOVED) {
        endSession(s, 'removed', 'removed', 'You were removed from this room.');
        return;
      }
      if (event.reason) showNotice(`Connection closed: ${event.reason} (${event.code})`, 'connection');
      else if (!opened && AUTH.required) {
        showNotice('Cannot connect: the server refused the access token (wrong, expired or not for this room) or cannot be reached', 'connection');
      }
      scheduleReconnect(s);
    });
  }

  function scheduleReconnect(s) {
    clearTimers(s);
    const ceiling = Math.min(BACKOFF.max, BACKOFF.initial * 2 ** s.attempt);
    // "Equal jitter": at least half the ceiling, so retries still back off.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    s.attempt = Math.min(s.attempt + 1, 30);
    const at = Date.now() + delay;
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((at - Date.now()) / 1000));
      setState('reconnecting', `reconnecting in ${seconds} s`);
    };
    tick();
    s.countdownTimer = setInterval(tick, 250);
    s.retryTimer = setTimeout(() => connect(s), delay);
  }

  /** The server ended the session for good (4001, 4003): say so and stop reconnecting. */
  function endSession(s, state, text, notice) {
    s.wanted = false;
    s.ended = true;
    clearTimers(s);
    setState(state, text);
    showNotice(notice, 'session');
    ui.sendText.disabled = true;
    ui.sendButton.disabled = true;
  }

  function clearTimers(s) {
    clearTimeout(s.retryTimer);
    clearInterval(s.countdownTimer);
    clearTimeout(s.connectTimer);
  }

  // ---- frames -----------------------------------------------------------

  function handleFrame(s, frame) {
    switch (frame.type) {
      case 'message':
        addMessage(s, frame);
        break;
      case 'history':
        // The server accepted us and caught us up: the next drop starts the backoff afresh.
        s.attempt = 0;
        if (Array.isArray(frame.messages)) for (const m of frame.messages) addMessage(s, m);
        break;
      case 'presence':
        if (frame.room === undefined || frame.room === s.room) applyPresence(s, frame);
        break;
      case 'who':
        addWhoPage(s, frame);
        break;
      case 'error':
        showNotice(String(frame.error ?? 'unknown error'));
        break;
      default:
        break;
    }
  }

  function addMessage(s, m) {
    if (!m || typeof m.id !== 'string' || typeof m.text !== 'string' || typeof m.from !== 'string') return;
    if (m.room !== undefined && m.room !== s.room) return;
    // Ids at or below the oldest one forgotten from `seen` were shown long ago.
    if (s.seen.has(m.id) || (s.floor !== null && (compareIds(m.id, s.floor) ?? 1) <= 0)) return;
    s.seen.add(m.id);
    if (s.seen.size > MAX_SEEN) {
      const oldest = s.seen.values().next().value;
      s.seen.delete(oldest);
      if (s.floor === null || (compareIds(oldest, s.floor) ?? 1) > 0) s.floor = oldest;
    }
    if (s.lastId === null || (compareIds(m.id, s.lastId) ?? 1) > 0) s.lastId = m.id;

    const list = ui.messages;
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const item = renderMessage(s, m);
    // Usually an append; a late history entry goes where its id belongs.
    let after = list.lastElementChild;
    while (after && (compareIds(after.dataset.id, m.id) ?? -1) > 0) after = after.previousElementSibling;
    if (after) after.after(item);
    else list.prepend(item);
    while (list.childElementCount > MAX_SHOWN) list.firstElementChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function renderMessage(s, m) {
    const item = document.createElement('li');
    item.className = m.from === s.name ? 'message mine' : 'message';
    item.dataset.id = m.id;

    const meta = document.createElement('div');
    meta.className = 'meta';
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = m.from;
    meta.append(from);
    if (typeof m.ts === 'number' && Number.isFinite(m.ts)) {
      const when = new Date(m.ts);
      const time = document.createElement('time');
      time.dateTime = when.toISOString();
      time.title = when.toLocaleString();
      time.textContent = formatTime(when);
      meta.append(' ', time);
    }

    const text = document.createElement('p');
    text.className = 'text';
    // textContent, never innerHTML: chat text is shown exactly as typed.
    text.textContent = m.text;
    item.append(meta, text);
    return item;
  }

  function formatTime(when) {
    const time = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (when.toDateString() === new Date().toDateString()) return time;
    return `${when.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
  }

  // ---- presence ---------------------------------------------------------

  // Who is online: a snapshot of names, then changes to it; or, in a room
  // above the server's threshold, only a count, with names fetched a page at
  // a time by `who` requests. Names come sorted by code point (the server's
  // order), which the page keeps.

  /** Orders names by code point, as the server does (UTF-16 order differs above U+FFFF). */
  function compareNames(a, b) {
    const x = [...a];
    const y = [...b];
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i].codePointAt(0) - y[i].codePointAt(0);
    }
    return x.length - y.length;
  }

  function applyPresence(s, frame) {
    const p = s.presence;
    if (Array.isArray(frame.users)) {
      p.names = new Set(frame.users.filter((u) => typeof u === 'string'));
    } else if (typeof frame.count === 'number') {
      const fresh = p.names !== null || p.count === null;
      p.names = null;
      p.count = frame.count;
      // Entering a counted room (or reconnecting to one): list its first names.
      if (fresh) {
        p.listed = [];
        p.next = null;
        p.shown = NAMES_SHOWN;
        askWho(s, undefined);
      }
    } else if (p.names !== null) {
      for (const name of Array.isArray(frame.joined) ? frame.joined : []) p.names.add(name);
      for (const name of Array.isArray(frame.left) ? frame.left : []) p.names.delete(name);
    }
    if (p.names !== null) p.count = p.names.size;
    renderUsers(s);
  }

  function askWho(s, after) {
    if (!s.ws || s.ws.readyState !== WebSocket.OPEN || s.presence.asking) return;
    s.presence.asking = true;
    s.ws.send(JSON.stringify({ type: 'who', ...(after === undefined ? {} : { after }), limit: NAMES_SHOWN }));
  }

  function addWhoPage(s, frame) {
    const p = s.presence;
    p.asking = false;
    if (p.names !== null || !Array.isArray(frame.users)) return;
    const last = p.listed.at(-1);
    for (const name of frame.users) {
      if (typeof name === 'string' && (last === undefined || compareNames(name, last) > 0)) p.listed.push(name);
    }
    p.next = typeof frame.next === 'string' ? frame.next : null;
    renderUsers(s);
  }

  function showMore() {
    const s = session;
    if (!s) return;
    const p = s.presence;
    if (p.names !== null) {
      p.shown += NAMES_SHOWN;
      renderUsers(s);
    } else if (p.next !== null) {
      askWho(s, p.next);
    }
  }

  function renderUsers(s) {
    const p = s.presence;
    const names = p.names !== null ? [...p.names].sort(compareNames).slice(0, p.shown) : p.listed;
    const items = names.map((name) => {
      const li = document.createElement('li');
      li.textContent = name;
      if (name === s.name) {
        li.className = 'me';
        const you = document.createElement('span');
        you.className = 'you';
        you.textContent = ' (you)';
        li.append(you);
      }
      return li;
    });
    ui.users.replaceChildren(...items);
    ui.usersCount.textContent = String(p.count ?? 0);
    ui.usersMore.hidden = p.names !== null ? p.names.size <= p.shown : p.next === null;
  }

  // ---- joining, leaving, sending ----------------------------------------

  /**
   * Joins `room` as `name` (null when only the server knows it, from an
   * unreadable cookie), with `token` ('' for none) whose exp is `exp`.
   */
  function join(name, room, token = '', exp = null) {
    leave();
    session = {
      name,
      room,
      token,
      exp,
      wanted: true,
      ended: false,
      ws: null,
      lastId: null,
      seen: new Set(),
      floor: null,
      attempt: 0,
      retryTimer: 0,
      countdownTimer: 0,
      connectTimer: 0,
      presence: { names: null, count: null, listed: [], next: null, shown: NAMES_SHOWN, asking: false },
    };
    const url = new URL(location.href);
    url.searchParams.set('room', room);
    if (AUTH.required) {
      // The name comes from the token; a typed token is kept out of the address bar and history.
      url.searchParams.delete('name');
      if (url.searchParams.get('token') !== token) url.searchParams.delete('token');
    } else {
      url.searchParams.set('name', name);
      try { localStorage.setItem('wskit-chat-name', name); } catch { /* storage may be disabled */ }
    }
    history.replaceState(null, '', url.href);

    ui.messages.replaceChildren();
    ui.users.replaceChildren();
    ui.usersCount.textContent = '0';
    ui.usersMore.hidden = true;
    ui.roomTitle.textContent = name === null ? `#${room}` : `#${room} as ${name}`;
    ui.roomTitle.hidden = false;
    document.title = `#${room} · wskit chat`;
    ui.joinForm.hidden = true;
    ui.chat.hidden = false;
    ui.sendText.disabled = false;
    ui.sendButton.disabled = false;
    ui.sendText.focus();
    connect(session);
  }

  function leave() {
    if (!session) return;
    const s = session;
    session = null;
    s.wanted = false;
    clearTimers(s);
    if (s.ws) s.ws.close(1000, 'left the room');
    s.ws = null;
    setState('offline');
  }

  function send() {
    const s = session;
    const text = ui.sendText.value;
    if (!s || text.trim() === '') return;
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > TEXT_MAX_BYTES) {
      showNotice(`Message is ${bytes} bytes, over the limit of ${TEXT_MAX_BYTES}`);
      return;
    }
    if (!s.ws || s.ws.readyState !== WebSocket.OPEN) {
      // Keep the text in the box rather than lose it.
      showNotice('Not connected: your message is still in the box, send it once online');
      return;
    }
    s.ws.send(JSON.stringify({ type: 'message', text }));
    ui.sendText.value = '';
    autosize();
  }

  function autosize() {
    const box = ui.sendText;
    box.style.height = 'auto';
    box.style.height = `${Math.min(box.scrollHeight, 160)}px`;
  }

  function submitJoin() {
    if (AUTH.required) {
      submitTokenJoin();
      return;
    }
    const name = ui.joinName.value.trim();
    const room = ui.joinRoom.value.trim();
    const nameReason = invalidReason('name', name);
    const roomReason = invalidReason('room', room);
    ui.joinError.textContent = nameReason || roomReason;
    ui.joinName.setAttribute('aria-invalid', String(nameReason !== ''));
    ui.joinRoom.setAttribute('aria-invalid', String(roomReason !== ''));
    if (nameReason || roomReason) {
      (nameReason ? ui.joinName : ui.joinRoom).focus();
      return;
    }
    join(name, room);
  }

  /** With auth on: the token typed, linked or in a readable cookie gives the name; checked as far as the page can. */
  function submitTokenJoin() {
    const room = ui.joinRoom.value.trim();
    const roomReason = invalidReason('room', room);
    const typed = ui.joinToken.value.trim();
    const token = typed || cookieToken();
    let claims = null;
    let tokenReason = '';
    if (token) {
      claims = readToken(token);
      if (claims.error) tokenReason = claims.error;
      else if (!roomReason && !tokenAllows(claims, room)) tokenReason = `This access token does not allow the room "${room}"`;
    } else if (!AUTH.cookie) {
      tokenReason = 'Paste your access token to join';
    }
    ui.joinError.textContent = roomReason || tokenReason;
    ui.joinToken.setAttribute('aria-invalid', String(tokenReason !== ''));
    ui.joinRoom.setAttribute('aria-invalid', String(roomReason !== ''));
    if (roomReason || tokenReason) {
      (roomReason ? ui.joinRoom : ui.joinToken).focus();
      return;
    }
    // Without a typed or linked token the sign-in cookie goes along by itself.
    join(claims ? claims.name : null, room, typed, claims ? claims.exp : null);
  }

  ui.joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    submitJoin();
  });
  ui.sendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  ui.sendText.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  ui.sendText.addEventListener('input', autosize);
  ui.usersMore.addEventListener('click', showMore);
  ui.leave.addEventListener('click', () => {
    const s = session;
    leave();
    ui.chat.hidden = true;
    ui.roomTitle.hidden = true;
    ui.joinForm.hidden = false;
    document.title = 'wskit chat';
    if (s) {
      if (s.name !== null && !AUTH.required) ui.joinName.value = s.name;
      ui.joinRoom.value = s.room;
      // An expired token is of no more use: make room for a fresh one.
      if (AUTH.required) ui.joinToken.value = s.ended ? '' : s.token;
    }
    ui.joinRoom.focus();
  });
  // Back on the network: retry now instead of waiting out the backoff.
  window.addEventListener('online', () => {
    if (session && session.wanted && !session.ws) connect(session);
  });
  ui.retry.addEventListener('click', () => {
    if (session && session.wanted && !session.ws) connect(session);
  });

  // ---- start: prefill from the URL, join at once when both are valid ----

  const params = new URLSearchParams(location.search);
  ui.joinRoom.value = params.get('room') ?? 'lobby';
  setState('offline');
  if (AUTH.required) {
    ui.joinNameField.hidden = true;
    ui.joinTokenField.hidden = false;
    ui.joinToken.value = params.get('token') ?? '';
    // A link with a token joins at once (the room defaults to lobby); with a cookie, a link with a room does.
    if (ui.joinToken.value || (AUTH.cookie && params.has('room'))) submitJoin();
    else ui.joinToken.focus();
  } else {
    let storedName = '';
    try { storedName = localStorage.getItem('wskit-chat-name') || ''; } catch { /* storage may be disabled */ }
    ui.joinName.value = params.get('name') ?? storedName;
    if (params.has('name') && params.has('room')) submitJoin();
    else (ui.joinName.value ? ui.joinRoom : ui.joinName).focus();
  }
})();
