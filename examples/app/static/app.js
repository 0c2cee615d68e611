// The cio demo page: each panel uses one endpoint of examples/app.
// Text from the server (file names, chat messages) is always put in the page
// with textContent, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

function show(id, text, ok = true) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle('error', !ok);
}

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// ---- /hello, /json, /time -------------------------------------------------

async function fetchText(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
  return r.text();
}

async function loadBasics() {
  try {
    show('hello', (await fetchText('/hello')).trim());
  } catch (e) {
    show('hello', `failed: ${e.message}`, false);
  }
  try {
    const j = JSON.parse(await fetchText('/json'));
    show('json', `${j.message} (cio ${j.version}, ${j.backend} backend, you are ${j.you})`);
  } catch (e) {
    show('json', `failed: ${e.message}`, false);
  }
  await loadTime();
}

async function loadTime() {
  try {
    const j = JSON.parse(await fetchText('/time'));
    show('time', `${j.time} (${j.style})`);
  } catch (e) {
    show('time', `failed: ${e.message}`, false);
  }
}

// ---- /events: server-sent events ------------------------------------------

function startEvents() {
  const es = new EventSource('/events');
  es.onopen = () => show('sse-status', 'connected');
  es.onerror = () => show('sse-status', 'reconnecting…', false);
  es.addEventListener('tick', (ev) => {
    const t = JSON.parse(ev.data);
    show('sse', `tick ${t.n} at ${t.time}`);
  });
}

// ---- /upload and /uploads ------------------------------------------------

function renderUploads(files) {
  const body = $('uploads');
  body.replaceChildren();
  for (const f of files) {
    const tr = document.createElement('tr');
    tr.className = 'upload';
    const name = document.createElement('td');
    const a = document.createElement('a');
    a.href = f.url;
    a.textContent = f.name;
    name.append(a);
    const size = document.createElement('td');
    size.textContent = `${f.size} bytes`;
    size.title = formatSize(f.size);
    const sha = document.createElement('td');
    sha.className = 'sha';
    sha.textContent = f.sha256;
    tr.append(name, size, sha);
    body.append(tr);
  }
}

async function loadUploads() {
  try {
    renderUploads(JSON.parse(await fetchText('/uploads')).files);
  } catch (e) {
    show('upload-status', `listing failed: ${e.message}`, false);
  }
}

async function upload(ev) {
  ev.preventDefault();
  const input = $('file');
  if (!input.files.length) {
    show('upload-status', 'choose a file first', false);
    return;
  }
  const form = new FormData();
  for (const f of input.files) form.append('file', f, f.name);
  show('upload-status', 'uploading…');
  try {
    const r = await fetch('/upload', { method: 'POST', body: form });
    const text = await r.text();
    if (!r.ok) throw new Error(text.trim() || `${r.status}`);
    const got = JSON.parse(text).files;
    show('upload-status', `uploaded ${got.map((f) => `${f.name} (${f.size} bytes)`).join(', ')}`);
    input.value = '';
  } catch (e) {
    show('upload-status', `upload failed: ${e.message}`, false);
  }
  await loadUploads();
}

// ---- /chat: WebSocket ----------------------------------------------------

let chat = null;

function chatLine(kind, text) {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = text;
  const log = $('chat-log');
  log.append(li);
  while (log.children.length > 200) log.firstChild.remove();
  li.scrollIntoView({ block: 'nearest' });
}

function setChatEnabled(on) {
  $('chat-input').disabled = !on;
  $('chat-send').disabled = !on;
}

function startChat(delay = 1000) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  chat = new WebSocket(`${proto}//${location.host}/chat`);
  chat.onopen = () => {
    show('chat-status', 'connected');
    setChatEnabled(true);
    delay = 1000;
  };
  chat.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    switch (m.type) {
      case 'welcome':
        show('chat-me', `(you are ${m.from}; ${m.members} in the room)`);
        break;
      case 'message':
        chatLine('message', `${m.from}: ${m.text}`);
        break;
      case 'join':
        chatLine('notice', `${m.from} joined (${m.members} in the room)`);
        break;
      case 'leave':
      case 'dropped':
        chatLine('notice', `${m.from} ${m.type === 'leave' ? 'left' : 'was dropped (too slow)'} (${m.members} in the room)`);
        break;
      default:
        break;
    }
  };
  chat.onclose = (ev) => {
    setChatEnabled(false);
    show('chat-status', `closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''}); reconnecting…`, false);
    setTimeout(() => startChat(Math.min(delay * 2, 30000)), delay);
  };
}

function sendChat(ev) {
  ev.preventDefault();
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text || !chat || chat.readyState !== WebSocket.OPEN) return;
  chat.send(text);
  input.value = '';
  input.focus();
}

// ---- start -----------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('upload-form').addEventListener('submit', upload);
  $('chat-form').addEventListener('submit', sendChat);
  $('time-again').addEventListener('click', loadTime);
  loadBasics();
  loadUploads();
  startEvents();
  startChat();
});
