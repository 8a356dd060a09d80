#!/usr/bin/python3
"""export_check.py - end-to-end test of `mediagrep export` (ctest export_cli).

Builds a small store with `mediagrep index` (two generated photos and two
generated videos, the tiny test model made by scripts/gen_tiny_models.py),
adds OCR and speech text segments to its catalog with sqlite3, then exports
it in the three formats and checks every file with independent readers:
numpy.load for the .npy shards (equal to the store's vectors read straight
from its vector file, re-normalised, and for fp16 numpy's own float16
conversion), faiss.read_index for index/image.index (ntotal = rows, each
row's vector finds its own id first), hyparquet (tests/parquet_read.mjs) for
the metadata Parquet files, json for the JSON lines, all compared with the
catalog read by Python's sqlite3. Also: shards (--shard-rows 3), --kind,
--fp32, the store left unchanged, and errors (missing store, non-empty
output folder, --force, an output folder that cannot be created) leaving no
half-written output. Exit 77 (skip) only for the Parquet checks when npm
cannot install hyparquet, after everything else passed.

usage: export_check.py BUILD_DIR SOURCE_DIR
"""
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import numpy as np
import faiss

BUILD, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
MG = os.path.join(BUILD, "mediagrep")
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def run(*args, ok=True):
    p = subprocess.run([MG, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"mediagrep {' '.join(args)} failed ({p.returncode})")
    return p


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


tmp = tempfile.mkdtemp(prefix="mgtest-export-")
os.chdir(tmp)
os.makedirs("media/photos")
os.makedirs("media/videos")
sh("/usr/bin/python3 %s/scripts/gen_tiny_models.py --out models --only tiny-p32 >/dev/null" % SRC)
ff = "ffmpeg -nostdin -loglevel error -y -f lavfi -i"
sh(f"{ff} testsrc2=size=320x240 -frames:v 1 media/photos/a.jpg")
sh(f"{ff} mandelbrot=size=200x150 -frames:v 1 'media/photos/b ü.png'")
sh(f"{ff} testsrc2=size=160x120:rate=5 -t 3 -c:v libx264 media/videos/v.mp4")
sh(f"{ff} smptebars=size=160x120:rate=5 -t 2 -c:v libx264 media/videos/w.mp4")
run("index", "media", "--store", "st", "--model", "models/tiny-p32", "--quiet")

# texts: OCR on a photo and on video frames, speech on a video
db = sqlite3.connect("st/catalog.db")
mid = {os.path.basename(p): i for i, p in db.execute("SELECT id, path FROM media")}
# segment edges on frame times: a frame at an edge belongs to the segment starting there
vt = [t for (t,) in db.execute("SELECT time_ms FROM items WHERE media_id = ? AND frame_index >= 0 ORDER BY time_ms",
                               (mid["v.mp4"],))]
assert len(vt) >= 5, vt
texts = [(mid["a.jpg"], "ocr", 0, 0, "STOP ünïcode"), (mid["a.jpg"], "ocr", 0, 0, "second line"),
         (mid["v.mp4"], "ocr", 0, vt[2], "caption one"), (mid["v.mp4"], "ocr", vt[2], vt[4], "caption two"),
         (mid["v.mp4"], "ocr", vt[3], vt[3], "a flash"),
         (mid["v.mp4"], "speech", vt[1] + 1, vt[-1] + 1, "spoken words")]
db.executemany("INSERT INTO texts(media_id, analyzer, start_ms, end_ms, text) VALUES (?,?,?,?,?)", texts)
db.commit()
db.close()


def digest():
    h = hashlib.sha256()
    for f in sorted(os.listdir("st")):
        # a reader's SQLite leaves catalog.db-shm and an empty -wal: not content
        if f in ("catalog.db-shm", "catalog.db-wal") and (f.endswith("-shm") or os.path.getsize("st/" + f) == 0):
            continue
        if f.startswith("catalog.db") or f.startswith("vectors-") or f.startswith("index-"):
            with open(os.path.join("st", f), "rb") as fh:
                h.update(f.encode() + fh.read())
    return h.hexdigest()


before = digest()

# ---- the reference: catalog rows and vectors read directly ----
db = sqlite3.connect("file:st/catalog.db?mode=ro", uri=True)
model_id, dim, dtype, vec_file = db.execute("SELECT id, dim, dtype, vec_file FROM models").fetchone()
raw = np.fromfile(os.path.join("st", vec_file), dtype=np.float32 if dtype == 0 else np.float16, offset=64)
store_vecs = raw.reshape(-1, dim).astype(np.float32)
ref = []
for (item, media, frame, t, vr, path, kind, w, h, size, mt) in db.execute(
        "SELECT i.id, i.media_id, i.frame_index, i.time_ms, i.vec_row, m.path, m.kind, m.width, m.height, m.size,"
        " m.mtime_ns FROM items i JOIN media m ON m.id = i.media_id WHERE i.frame_index >= 0 AND i.model_id = ?"
        " ORDER BY i.id", (model_id,)):
    photo = kind == "image"

    def seg(an):
        if photo:
            q = db.execute("SELECT text FROM texts WHERE media_id=? AND analyzer=? ORDER BY start_ms, id", (media, an))
        else:
            q = db.execute("SELECT text, start_ms, end_ms FROM texts WHERE media_id=? AND analyzer=?"
                           " ORDER BY start_ms, id", (media, an))
            q = [(r[0],) for r in q if r[1] <= t and (r[2] > t or r[1] == t)]
        s = [r[0] for r in q]
        return "\n".join(s) if s else None

    v = store_vecs[vr].copy()
    ss = float(np.sum(v.astype(np.float64) ** 2))
    if ss > 0:
        v = v * np.float32(1.0 / np.sqrt(ss))
    ref.append(dict(image_path=path, media_id=media, item_id=item, kind=kind, frame=None if photo else frame,
                    time_ms=None if photo else t, width=w, height=h, size=size, mtime=mt // 1000000000,
                    mtime_ns=mt, ocr_text=seg("ocr"), speech_text=seg("speech"), vec=v))
db.close()
N = len(ref)
print("reference rows:", N)
check(N >= 15, "the store has photos and video frames")
check(any(r["ocr_text"] == "STOP ünïcode\nsecond line" for r in ref), "photo OCR text in the reference")
check(any(r["ocr_text"] == "caption two\na flash" for r in ref), "a zero-length segment at a frame's time")
check(sum(r["ocr_text"] == "caption two" for r in ref) == 1, "the segment edge: frame vt[2] only in caption two")
check(any(r["speech_text"] == "spoken words" for r in ref) and any(r["speech_text"] is None and r["kind"] == "video"
                                                                     for r in ref), "speech by time")
COLS = ["image_path", "media_id", "item_id", "kind", "frame", "time_ms", "width", "height", "size", "mtime",
        "mtime_ns", "ocr_text", "speech_text"]
INTS = {"media_id", "item_id", "frame", "time_ms", "size", "mtime", "mtime_ns"}
F16 = lambda rows: np.stack([r["vec"] for r in rows]).astype(np.float16)  # noqa: E731
F32 = lambda rows: np.stack([r["vec"] for r in rows]).astype(np.float32)  # noqa: E731

# ---- hyparquet ----
npm_prefix = os.path.join(BUILD, "npm-hyparquet")
have_pq = os.path.exists(os.path.join(npm_prefix, "node_modules/hyparquet/package.json"))
if not have_pq:
    os.makedirs(npm_prefix, exist_ok=True)
    have_pq = subprocess.run(f"npm install --no-audit --no-fund --prefix '{npm_prefix}' hyparquet >/dev/null 2>&1",
                             shell=True).returncode == 0 and \
        os.path.exists(os.path.join(npm_prefix, "node_modules/hyparquet/package.json"))
if not have_pq:
    print("NOTE: npm could not install hyparquet: the Parquet checks are skipped")


def read_parquet(path):
    out = subprocess.run(["node", os.path.join(SRC, "tests/parquet_read.mjs"), path, npm_prefix],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def check_parquet(path, rows, tag):
    if not have_pq:
        return
    o = read_parquet(path)
    check([c["name"] for c in o["schema"]] == COLS, f"{tag}: columns")
    check(o["num_rows"] == len(rows) and len(o["rows"]) == len(rows), f"{tag}: row count")
    want_type = {"width": "INT32", "height": "INT32", "image_path": "BYTE_ARRAY", "kind": "BYTE_ARRAY",
                 "ocr_text": "BYTE_ARRAY", "speech_text": "BYTE_ARRAY"}
    for c in o["schema"]:
        check(c["type"] == want_type.get(c["name"], "INT64"), f"{tag}: type of {c['name']}")
        opt = c["name"] in ("frame", "time_ms", "ocr_text", "speech_text")
        check(c["repetition_type"] == ("OPTIONAL" if opt else "REQUIRED"), f"{tag}: repetition of {c['name']}")
    for i, (got, r) in enumerate(zip(o["rows"], rows)):
        for j, name in enumerate(COLS):
            want = r[name]
            if name in INTS and want is not None:
                want = str(want)
            check(got[j] == want, f"{tag}: row {i} {name}: {got[j]!r} != {want!r}")


def check_meta_obj(obj, r, tag):
    for name in COLS:
        check(obj.get(name, "missing") == r[name], f"{tag}: {name}: {obj.get(name, 'missing')!r} != {r[name]!r}")


def check_index(path, vecs, tag):
    ix = faiss.read_index(path)
    check(ix.ntotal == len(vecs), f"{tag}: ntotal {ix.ntotal} != {len(vecs)}")
    q = vecs.astype(np.float32)
    D, I = ix.search(q, min(5, len(vecs)))
    self_scores = np.sum(q * q, axis=1)
    for r in range(len(vecs)):
        top = [I[r][k] for k in range(I.shape[1]) if abs(D[r][k] - D[r][0]) <= 1e-6]
        check(r in top and abs(D[r][0] - self_scores[r]) < 1e-4, f"{tag}: row {r} finds itself first ({I[r]})")


# ---- clip-retrieval, fp16, one shard ----
p = run("export", "--store", "st", "--out", "cr", "--json")
s = json.loads(p.stdout)
check(s["rows"] == N and s["shards"] == 1 and s["dim"] == dim and s["dtype"] == "float16", "cr: summary")
check(sorted(s["files"]) == ["img_emb/img_emb_0.npy", "index/image.index", "metadata/metadata_0.parquet"],
      "cr: files " + str(s["files"]))
e = np.load("cr/img_emb/img_emb_0.npy")
check(e.dtype == np.float16 and e.shape == (N, dim) and e.flags["C_CONTIGUOUS"], "cr: npy dtype/shape")
check(np.array_equal(e, F16(ref)), "cr: vectors = numpy float16 of the re-normalised store vectors")
check(np.allclose(np.linalg.norm(e.astype(np.float32), axis=1), 1, atol=2e-3), "cr: rows L2-normalised")
with open("cr/img_emb/img_emb_0.npy", "rb") as fh:
    head = fh.read(10)
    check(head[:8] == b"\x93NUMPY\x01\x00" and (10 + int.from_bytes(head[8:10], "little")) % 64 == 0,
          "cr: NPY v1.0 header, data at a multiple of 64")
check_index("cr/index/image.index", e.astype(np.float32), "cr index")
check_parquet("cr/metadata/metadata_0.parquet", ref, "cr parquet")

# ---- fp32, shards of 3 ----
p = run("export", "--store", "st", "--out", "sh", "--shard-rows", "3", "--fp32", "--json")
s = json.loads(p.stdout)
k = (N + 2) // 3
check(s["shards"] == k and s["dtype"] == "float32", "shards: summary")
check(sorted(os.listdir("sh/img_emb")) == sorted(f"img_emb_{i}.npy" for i in range(k)), "shards: npy names")
check(sorted(os.listdir("sh/metadata")) == sorted(f"metadata_{i}.parquet" for i in range(k)), "shards: parquet names")
parts = [np.load(f"sh/img_emb/img_emb_{i}.npy") for i in range(k)]
check(all(x.shape[0] == 3 for x in parts[:-1]) and parts[-1].shape[0] == N - 3 * (k - 1), "shards: rows per shard")
allv = np.concatenate(parts)
check(allv.dtype == np.float32 and np.array_equal(allv, F32(ref)), "shards: fp32 vectors equal")
check_index("sh/index/image.index", allv, "shards index")
for i in range(k):
    check_parquet(f"sh/metadata/metadata_{i}.parquet", ref[3 * i:3 * i + 3], f"shard {i} parquet")

# ---- --kind video ----
vid = [r for r in ref if r["kind"] == "video"]
p = run("export", "--store", "st", "--out", "kv", "--kind", "video", "--json")
check(json.loads(p.stdout)["rows"] == len(vid) and 0 < len(vid) < N, "kind video: rows")
check(np.array_equal(np.load("kv/img_emb/img_emb_0.npy"), F16(vid)), "kind video: vectors")
check_parquet("kv/metadata/metadata_0.parquet", vid, "kind video parquet")
p = run("export", "--store", "st", "--out", "ki", "--kind", "image,video", "--no-index", "--json")
check(json.loads(p.stdout)["rows"] == N and not os.path.exists("ki/index"), "kind image,video + --no-index")
check(run("export", "--store", "st", "--out", "kx", "--kind", "sound", ok=False).returncode == 2, "bad kind: 2")
# no matching rows (audio files have no vectors): empty shard 0, empty index
p = run("export", "--store", "st", "--out", "ka", "--kind", "audio", "--json")
check(json.loads(p.stdout)["rows"] == 0, "kind audio: 0 rows")
check(np.load("ka/img_emb/img_emb_0.npy").shape == (0, dim), "0 rows: npy shape (0, dim)")
check(faiss.read_index("ka/index/image.index").ntotal == 0, "0 rows: empty index")
check_parquet("ka/metadata/metadata_0.parquet", [], "0 rows parquet")

# ---- npy format ----
run("export", "--store", "st", "--out", "np", "--format", "npy")
check(sorted(os.listdir("np")) == ["embeddings.npy", "metadata.jsonl"], "npy: files")
check(np.array_equal(np.load("np/embeddings.npy"), F16(ref)), "npy: vectors")
with open("np/metadata.jsonl", encoding="utf-8") as fh:
    lines = [json.loads(x) for x in fh]
check(len(lines) == N, "npy: metadata lines")
for i, (obj, r) in enumerate(zip(lines, ref)):
    check_meta_obj(obj, r, f"npy row {i}")
run("export", "--store", "st", "--out", "np4", "--format", "npy", "--shard-rows", "4")
k4 = (N + 3) // 4
check(sorted(os.listdir("np4")) == sorted([f"embeddings_{i}.npy" for i in range(k4)] + ["metadata.jsonl"]),
      "npy shards: files")
check(np.array_equal(np.concatenate([np.load(f"np4/embeddings_{i}.npy") for i in range(k4)]), F16(ref)),
      "npy shards: vectors")

# ---- jsonl format ----
run("export", "--store", "st", "--out", "jl", "--format", "jsonl", "--fp32")
with open("jl/embeddings.jsonl", encoding="utf-8") as fh:
    lines = [json.loads(x) for x in fh]
check(len(lines) == N, "jsonl: lines")
want = F32(ref)
for i, (obj, r) in enumerate(zip(lines, ref)):
    check_meta_obj(obj, r, f"jsonl row {i}")
    check(np.array_equal(np.array(obj["embedding"], dtype=np.float32), want[i]), f"jsonl row {i}: embedding")

# ---- errors ----
p = run("export", "--store", "nope", "--out", "e1", ok=False)
check(p.returncode == 1 and "nope" in p.stderr and not os.path.exists("e1"), "missing store: " + p.stderr)
os.makedirs("full")
with open("full/keep.txt", "w") as fh:
    fh.write("mine")
p = run("export", "--store", "st", "--out", "full", ok=False)
check(p.returncode == 2 and "not empty" in p.stderr and os.listdir("full") == ["keep.txt"], "non-empty out: refused")
run("export", "--store", "st", "--out", "full", "--force")
check(sorted(os.listdir("full")) == ["img_emb", "index", "metadata"], "--force replaces")
os.makedirs("empty")
run("export", "--store", "st", "--out", "empty")
check(os.path.exists("empty/img_emb/img_emb_0.npy"), "an empty out folder is used")
with open("afile", "w") as fh:
    fh.write("x")
p = run("export", "--store", "st", "--out", "afile/sub", ok=False)
check(p.returncode == 1 and "afile" in p.stderr, "unwritable out: error names the path: " + p.stderr)
p = run("export", "--store", "st", "--out", "afile", ok=False)
check(p.returncode != 0 and "afile" in p.stderr, "out is a file: " + p.stderr)
if os.geteuid() != 0:
    os.makedirs("ro")
    os.chmod("ro", 0o555)
    p = run("export", "--store", "st", "--out", "ro/x", ok=False)
    check(p.returncode == 1 and "ro/x" in p.stderr and not os.path.exists("ro/x"), "read-only parent")
# a full disk (root only: an 8 KiB tmpfs): the error names the file, nothing is left
os.makedirs("small")
if os.geteuid() == 0 and subprocess.run("mount -t tmpfs -o size=8k tmpfs small 2>/dev/null", shell=True).returncode == 0:
    try:
        p = run("export", "--store", "st", "--out", "small/out", ok=False)
        check(p.returncode == 1 and "No space left" in p.stderr and "small/" in p.stderr, "full disk: " + p.stderr)
        check(os.listdir("small") == [], "full disk: nothing left")
    finally:
        subprocess.run("umount small", shell=True)
else:
    print("NOTE: full-disk case skipped (needs root and a tmpfs mount)")
check(not [f for f in os.listdir(".") if ".export-" in f], "no temporary folders left")
check(run("export", "--store", "st", ok=False).returncode == 2, "no --out: usage")
check(run("export", "--help").stdout.startswith("usage: mediagrep export"), "--help")

check(digest() == before, "the store is unchanged")

# ---- exports while `mediagrep index` writes another store: each export is a
# committed snapshot (every file with all its frames, vectors as stored) ----
os.makedirs("media2")
sh(f"cd media2 && for i in $(seq 1 24); do {ff} testsrc2=size=96x64:rate=1 -vf hue=h=$((i*15)) -frames:v 1 p$i.png;"
   f" done && {ff} testsrc2=size=96x64:rate=5 -t 4 -c:v libx264 m1.mp4 && "
   f"{ff} smptebars=size=96x64:rate=5 -t 4 -c:v libx264 m2.mp4")
proc = subprocess.Popen([MG, "index", "media2", "--store", "st2", "--model", "models/tiny-p32", "--quiet"])
snaps = []
while proc.poll() is None and len(snaps) < 200:
    d = f"live{len(snaps)}"
    p = run("export", "--store", "st2", "--out", d, "--format", "npy", "--fp32", ok=False)
    if p.returncode == 0:
        snaps.append(d)
check(proc.wait() == 0, "concurrent index run")
print("exports during the index run:", len(snaps), [sum(1 for _ in open(f"{d}/metadata.jsonl")) for d in snaps])
db = sqlite3.connect("file:st2/catalog.db?mode=ro", uri=True)
_, vf2 = db.execute("SELECT dim, vec_file FROM models").fetchone()
vec2 = np.fromfile(os.path.join("st2", vf2), dtype=np.float32, offset=64).reshape(-1, dim)
final = {i: (m, vr) for i, m, vr in db.execute("SELECT id, media_id, vec_row FROM items WHERE frame_index >= 0")}
per_media = {}
for i, (m, _) in final.items():
    per_media[m] = per_media.get(m, 0) + 1
db.close()
for d in snaps:
    with open(f"{d}/metadata.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(x) for x in fh]
    e = np.load(f"{d}/embeddings.npy")
    check(len(rows) == len(e), f"{d}: rows")
    count = {}
    for k, r in enumerate(rows):
        count[r["media_id"]] = count.get(r["media_id"], 0) + 1
        v = vec2[final[r["item_id"]][1]]
        check(np.allclose(e[k], v / np.linalg.norm(v), atol=1e-6), f"{d}: row {k} vector")
    check(all(per_media[m] == n for m, n in count.items()), f"{d}: a file with only some of its frames")
    check([r["item_id"] for r in rows] == sorted(r["item_id"] for r in rows), f"{d}: items.id order")
os.chdir("/")
shutil.rmtree(tmp, ignore_errors=True)
if FAILS:
    print(f"{len(FAILS)} checks failed")
    sys.exit(1)
print("all export checks passed" + ("" if have_pq else " (Parquet checks skipped)"))
sys.exit(0 if have_pq else 77)
