// mediagrep web page: text search, search by example image (pick or drag and
// drop), a results grid of thumbnails with scores; a video hit plays from its
// moment. Talks to the JSON API of `mediagrep serve`; no external resources.
'use strict';
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem('mg_token') || '';
if (token) document.cookie = 'mg_token=' + encodeURIComponent(token) + '; path=/; SameSite=Strict';

async function api(url, opts = {}) {
  opts.headers = Object.assign({}, opts.headers || {});
  if (token) opts.headers['Authorization'] = 'Bearer ' + token;
  let r = await fetch(url, opts);
  if (r.status === 401) {
    const t = prompt('This server needs its access token:');
    if (t) {
      token = t;
      localStorage.setItem('mg_token', t);
      document.cookie = 'mg_token=' + encodeURIComponent(t) + '; path=/; SameSite=Strict';
      opts.headers['Authorization'] = 'Bearer ' + t;
      r = await fetch(url, opts);
    }
  }
  let body = null;
  try { body = await r.json(); } catch (e) { body = { error: 'bad response (' + r.status + ')' }; }
  if (!r.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + r.status);
  return body;
}

function fmtTime(ms) {
  const s = Math.floor(ms / 1000), m = Math.floor(s / 60);
  return m + ':' + String(s % 60).padStart(2, '0') + '.' + Math.floor((ms % 1000) / 100);
}

function params() {
  const p = new URLSearchParams();
  p.set('k', '60');
  if ($('kind').value) p.set('kind', $('kind').value);
  if ($('all').checked) p.set('cutoff', '0');
  return p;
}

function show(res) {
  const grid = $('grid');
  grid.textContent = '';
  const n = res.results.length;
  $('msg').textContent = n ? n + ' result' + (n > 1 ? 's' : '') + ' (' + res.method + ', ' +
    res.search_ms.toFixed(1) + ' ms)' : (res.no_good_match ? 'no good match (tick "all" to see weaker ones)' : 'no match');
  for (const h of res.results) {
    const card = document.createElement('div');
    card.className = 'card';
    const img = document.createElement('img');
    img.loading = 'lazy';
    img.src = h.thumb;
    img.alt = h.name;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = h.name;
    name.title = h.path;
    const score = document.createElement('span');
    score.className = 'score';
    score.textContent = h.score.toFixed(3);
    meta.append(name, score);
    card.append(img, meta);
    if (h.kind === 'video') {
      const w = document.createElement('div');
      w.className = 'when';
      w.textContent = '\u25B6 ' + fmtTime(h.peak_ms) + ' (' + fmtTime(h.start_ms) + '\u2013' + fmtTime(h.end_ms) + ')';
      card.append(w);
    }
    card.addEventListener('click', () => play(h));
    grid.append(card);
  }
}

function play(h) {
  const v = $('video'), ph = $('photo');
  $('player').hidden = false;
  $('ptitle').textContent = h.path + (h.kind === 'video' ? ' at ' + fmtTime(h.peak_ms) : '');
  if (h.kind === 'video') {
    ph.hidden = true;
    v.hidden = false;
    const start = Math.max(0, h.start_ms) / 1000;
    v.src = h.file + '#t=' + start.toFixed(3);
    v.onloadedmetadata = () => { v.currentTime = start; v.play().catch(() => {}); };
  } else {
    v.pause();
    v.removeAttribute('src');
    v.hidden = true;
    ph.hidden = false;
    ph.src = h.file;
  }
  window.scrollTo({ top: 0, behavior: 'smooth' });
}

$('pclose').addEventListener('click', () => {
  const v = $('video');
  v.pause();
  v.removeAttribute('src');
  $('player').hidden = true;
});

async function searchText() {
  const q = $('q').value.trim();
  if (!q) return;
  const p = params();
  p.set('q', q);
  $('msg').textContent = 'searching\u2026';
  try { show(await api('/api/search?' + p.toString())); } catch (e) { $('msg').textContent = e.message; }
}

async function searchImage(file) {
  if (!file) return;
  const fd = new FormData();
  fd.append('image', file, file.name || 'image');
  const q = $('q').value.trim();
  if (q) fd.append('q', q);
  $('msg').textContent = 'searching by ' + (file.name || 'image') + '\u2026';
  try { show(await api('/api/search?' + params().toString(), { method: 'POST', body: fd })); }
  catch (e) { $('msg').textContent = e.message; }
}

$('search').addEventListener('submit', (e) => { e.preventDefault(); searchText(); });
$('file').addEventListener('change', (e) => { searchImage(e.target.files[0]); e.target.value = ''; });

let depth = 0;
window.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; $('drop').hidden = false; });
window.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; $('drop').hidden = true; } });
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => {
  e.preventDefault();
  depth = 0;
  $('drop').hidden = true;
  const f = e.dataTransfer.files && e.dataTransfer.files[0];
  if (f) searchImage(f);
});

api('/api/status').then((s) => {
  $('status').textContent = s.files_ok + ' files (' + s.images + ' photos, ' + s.videos + ' videos)' +
    (s.model && s.model.random_weights ? ' \u2014 random-weight model: results are not meaningful' : '');
}).catch((e) => { $('status').textContent = e.message; });
