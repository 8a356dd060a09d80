// mediagrep web page: text search, search by example image (pick or drag and
// drop), a results grid of thumbnails with scores; a video hit plays from its
// moment. A hit found by the text in it (OCR) shows why: the matched words
// are boxed over its thumbnail (and over the photo in the player) and its
// snippet is shown with those words marked; a video plays from when the text
// is on screen. Talks to the JSON API of `mediagrep serve`; no external resources.
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
  if ($('only').value) p.set('only', $('only').value);
  if ($('all').checked) p.set('cutoff', '0');
  return p;
}

// Appends a snippet ("BRIDGE [MUSEUM] gate") to el: plain text as text nodes,
// the bracketed (matched) words as <mark> elements. The text is OCR output:
// only textContent, never innerHTML.
function snippetNodes(el, snippet) {
  String(snippet || '').split(/\[([^\[\]]*)\]/).forEach((t, i) => {
    if (!t) return;
    if (i % 2) {
      const m = document.createElement('mark');
      m.textContent = t;
      el.append(m);
    } else {
      el.append(document.createTextNode(t));
    }
  });
}

// The frame's aspect ratio (CSS --ar): the boxes are fractions of the image,
// so the frame must have exactly the image's shape for them to sit on it.
function setRatio(frame, w, h) {
  if (w > 0 && h > 0) frame.style.setProperty('--ar', String(w / h));
}

// Replaces the highlight rectangles over frame with boxes ([x0,y0,x1,y1],
// 0..1 of the image, x right, y down), placed in % of the frame.
function drawBoxes(frame, boxes) {
  for (const e of frame.querySelectorAll('.hl')) e.remove();
  const c = (v) => Math.min(1, Math.max(0, Number(v) || 0));
  for (const b of boxes || []) {
    if (!Array.isArray(b) || b.length < 4) continue;
    const x0 = c(b[0]), y0 = c(b[1]), x1 = c(b[2]), y1 = c(b[3]);
    if (!(x1 > x0 && y1 > y0)) continue;
    const d = document.createElement('div');
    d.className = 'hl';
    d.style.left = (x0 * 100).toFixed(3) + '%';
    d.style.top = (y0 * 100).toFixed(3) + '%';
    d.style.width = ((x1 - x0) * 100).toFixed(3) + '%';
    d.style.height = ((y1 - y0) * 100).toFixed(3) + '%';
    frame.append(d);
  }
}

function why(h) {
  if (!h.visual_rank && !h.text_rank) return '';
  const w = [];
  if (h.visual_rank) w.push('shows it: #' + h.visual_rank);
  if (h.text_rank) w.push('says it: #' + h.text_rank);
  return w.join(', ');
}

function show(res) {
  const grid = $('grid');
  grid.textContent = '';
  const n = res.results.length;
  $('msg').textContent = n ? n + ' result' + (n > 1 ? 's' : '') + ' (' + res.method + ', ' +
    (res.text_hits ? res.text_hits + ' by text, ' : '') + res.search_ms.toFixed(1) + ' ms)' : (res.no_good_match ? 'no good match (tick "all" to see weaker ones)' : 'no match');
  for (const h of res.results) {
    const card = document.createElement('div');
    card.className = 'card';
    // the thumbnail keeps the image's shape inside a fixed-height box, so
    // the word boxes (fractions of the image) land on the words
    const box = document.createElement('div');
    box.className = 'box';
    const frame = document.createElement('div');
    frame.className = 'frame';
    setRatio(frame, h.width, h.height);
    const img = document.createElement('img');
    img.loading = 'lazy';
    img.alt = h.name;
    img.addEventListener('load', () => setRatio(frame, img.naturalWidth, img.naturalHeight));
    if (h.kind === 'audio') { // no picture: a note in the frame
      frame.classList.add('audio');
      frame.textContent = '\u266A';
    } else {
      img.src = h.thumb;
      frame.append(img);
    }
    if (h.text) drawBoxes(frame, h.text.boxes);
    box.append(frame);
    const meta = document.createElement('div');
    meta.className = 'meta';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = h.name;
    name.title = h.path;
    const score = document.createElement('span');
    score.className = 'score';
    score.textContent = h.score.toFixed(3);
    score.title = why(h);
    meta.append(name, score);
    card.append(box, meta);
    if (h.text) {
      const sn = document.createElement('div');
      sn.className = 'snip';
      snippetNodes(sn, h.text.snippet);
      sn.title = 'text in it' + (h.text.substring ? ' (part of a word)' : '');
      card.append(sn);
      card.classList.add('bytext');
    }
    if (h.speech) {
      const sp = document.createElement('div');
      sp.className = 'snip said';
      snippetNodes(sp, h.speech.snippet);
      sp.title = 'said at ' + fmtTime(h.speech.start_ms) + '\u2013' + fmtTime(h.speech.end_ms);
      card.append(sp);
      card.classList.add('bytext');
    }
    if (h.kind === 'video' || h.kind === 'audio') {
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
  const v = $('video'), ph = $('photo'), st = $('stage'), ps = $('psnip');
  $('player').hidden = false;
  const timed = h.kind === 'video' || h.kind === 'audio';
  $('ptitle').textContent = h.path + (timed ? ' at ' + fmtTime(h.peak_ms) : '');
  ps.textContent = '';
  ps.hidden = !h.text && !h.speech;
  if (h.text) snippetNodes(ps, h.text.snippet);
  if (h.speech) snippetNodes(ps, (h.text ? ' \u2014 said: ' : 'said: ') + h.speech.snippet);
  if (timed) {
    st.hidden = true;
    ph.removeAttribute('src');
    v.hidden = false;
    // found by text: from when the text is on screen (the hit's own start_ms
    // is that time too); otherwise from the moment's start
    // found by speech: from the spoken segment (the hit's start_ms is the
    // moment the best-ranked list chose)
    const t0 = h.speech && (!h.text || h.speech_rank < h.text_rank) ? h.speech.start_ms
      : h.text && typeof h.text.start_ms === 'number' ? h.text.start_ms : h.start_ms;
    const start = Math.max(0, t0) / 1000;
    v.src = h.file + '#t=' + start.toFixed(3);
    v.onloadedmetadata = () => { v.currentTime = start; v.play().catch(() => {}); };
  } else {
    v.pause();
    v.removeAttribute('src');
    v.hidden = true;
    st.hidden = false;
    setRatio(st, h.width, h.height);
    drawBoxes(st, h.text ? h.text.boxes : []);
    ph.onload = () => setRatio(st, ph.naturalWidth, ph.naturalHeight);
    ph.src = h.file;
  }
  window.scrollTo({ top: 0, behavior: 'smooth' });
}

$('pclose').addEventListener('click', () => {
  const v = $('video');
  v.pause();
  v.removeAttribute('src');
  $('photo').removeAttribute('src');
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
