// mediagrep web page: the "Duplicates" view. Fetches GET /api/duplicates
// (the groups of `mediagrep dups --json`) and shows each group side by side:
// a thumbnail per file (the server's thumbnails; a video's from its middle),
// its resolution, size and date, and the suggested file to keep marked. A
// suggestion only: the page, like the server, never deletes anything.
// Uses api() and fmtTime() from app.js; only textContent, never innerHTML.
'use strict';

function fmtBytes(b) {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (b >= 1000 && i < u.length - 1) { b /= 1000; i++; }
  return (i ? b.toFixed(1) : String(b)) + ' ' + u[i];
}

function dupsParams() {
  const p = new URLSearchParams();
  const th = $('dthreshold').value.trim();
  if (th) p.set('threshold', th);
  if ($('dkind').value) p.set('kind', $('dkind').value);
  if ($('dexact').checked) p.set('exact', '1');
  const mg = $('dmin').value.trim();
  if (mg && mg !== '2') p.set('min_group', mg);
  return p;
}

function dupTile(f) {
  const card = document.createElement('div');
  card.className = 'card dup' + (f.keep ? ' keep' : '');
  const box = document.createElement('div');
  box.className = 'box';
  const frame = document.createElement('div');
  frame.className = 'frame';
  setRatio(frame, f.width, f.height);
  const img = document.createElement('img');
  img.loading = 'lazy';
  img.alt = f.name;
  img.addEventListener('load', () => setRatio(frame, img.naturalWidth, img.naturalHeight));
  img.src = '/api/media/' + f.media_id + '/thumb' + (f.kind === 'video' ? '?t=' + Math.floor((f.duration_ms || 0) / 2) : '');
  frame.append(img);
  box.append(frame);
  const meta = document.createElement('div');
  meta.className = 'meta';
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = f.name;
  name.title = f.path;
  const score = document.createElement('span');
  score.className = 'score';
  score.textContent = f.keep ? 'keep' : f.identical ? 'identical' : f.similarity.toFixed(3);
  if (f.frames_compared) score.title = f.frames_matched + ' of ' + f.frames_compared + ' aligned frames within the threshold';
  meta.append(name, score);
  const info = document.createElement('div');
  info.className = 'when dupinfo';
  info.textContent = f.width + '\u00D7' + f.height + ', ' + fmtBytes(f.size) + ', ' + f.mtime.slice(0, 10) +
    (f.kind === 'video' ? ', ' + fmtTime(f.duration_ms) : '') + (f.sampled_hash ? ', sampled hash' : '');
  card.append(box, meta, info);
  card.addEventListener('click', () => play({ kind: f.kind, path: f.path, file: '/api/media/' + f.media_id + '/file',
    width: f.width, height: f.height, peak_ms: 0, start_ms: 0 }));
  return card;
}

function showDups(res) {
  const grid = $('grid');
  grid.textContent = '';
  grid.classList.add('dups');
  const n = res.groups.length;
  $('msg').textContent = n ? n + ' group' + (n > 1 ? 's' : '') + ', ' + res.files_in_groups + ' files, ' +
    fmtBytes(res.reclaimable_bytes) + ' reclaimable (' + (res.mode === 'exact' ? 'identical content' :
    'cosine \u2265 ' + res.threshold) + '). ' + res.note : 'no duplicates found (' + res.files + ' files)';
  for (const g of res.groups) {
    const row = document.createElement('section');
    row.className = 'dupgroup';
    const h = document.createElement('h3');
    h.textContent = 'Group ' + g.group + ': ' + g.files.length + ' ' + (g.kind === 'video' ? 'videos' : 'photos') +
      ', ' + fmtBytes(g.reclaimable_bytes) + ' reclaimable' + (g.exact ? ', identical content' : '') +
      (g.sampled_hash ? ' (sampled hashes: files over 256 MiB)' : '');
    const files = document.createElement('div');
    files.className = 'dupfiles';
    for (const f of g.files) files.append(dupTile(f));
    row.append(h, files);
    grid.append(row);
  }
}

async function findDups() {
  $('msg').textContent = 'looking for duplicates\u2026';
  try { showDups(await api('/api/duplicates?' + dupsParams().toString())); }
  catch (e) { $('msg').textContent = e.message; }
}

$('dups').addEventListener('submit', (e) => { e.preventDefault(); findDups(); });
// a search puts the ordinary grid back
$('search').addEventListener('submit', () => $('grid').classList.remove('dups'));
