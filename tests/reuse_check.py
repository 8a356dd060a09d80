#!/usr/bin/env python3
"""Moves, renames and copies cost nothing (`mediagrep index`, reuse by
content): a folder of photos, a video and a photo with text (OCR) is
indexed; then moved, renamed and copied in several ways, and each re-index
must (1) copy the stored results instead of decoding (files_reused, no
frames encoded), (2) remove the old paths despite the mass-delete guard (a
moved folder is not a loss), and (3) end with exactly the store a fresh
index of the final folder gives: media rows, items, vector bytes, analyses,
texts and the FTS index. A file whose content changed is decoded as usual;
a copy keeps its source.
Usage: reuse_check.py MEDIAGREP TEST_MODELS_DIR"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import numpy as np

BIN, MODELS = sys.argv[1], sys.argv[2]
MODEL = os.path.join(MODELS, "tiny-p32")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def index(root, store, *extra):
    r = subprocess.run([BIN, "index", root, "--store", store, "--model", MODEL, "--ocr", "--quiet", "--json", *extra],
                       capture_output=True, text=True)
    if r.returncode not in (0, 3):
        print(r.stderr)
        raise SystemExit("index failed: rc %d" % r.returncode)
    return json.loads(r.stdout)


def dump(store):
    db = sqlite3.connect("file:%s/catalog.db?mode=ro" % store, uri=True)
    vf, dim = db.execute("SELECT vec_file, dim FROM models").fetchone()
    raw = np.fromfile(os.path.join(store, vf), dtype=np.uint8)[64:].reshape(-1, dim * 4)
    items = {(p, fi, t): raw[vr].tobytes() for p, fi, t, vr in db.execute(
        "SELECT m.path, i.frame_index, i.time_ms, i.vec_row FROM items i JOIN media m ON m.id = i.media_id")}
    media = sorted(db.execute("SELECT path, size, mtime_ns, hash, kind, duration_ms, width, height, status, n_items "
                              "FROM media"))
    texts = sorted(db.execute("SELECT m.path, t.analyzer, t.start_ms, t.end_ms, t.lang, t.text, t.words "
                              "FROM texts t JOIN media m ON m.id = t.media_id"))
    analyses = sorted(db.execute("SELECT m.path, a.analyzer, a.version, a.settings, a.status, a.error, a.n_results "
                                 "FROM analyses a JOIN media m ON m.id = a.media_id"))
    fts = sorted(db.execute("SELECT m.path FROM texts_fts f JOIN texts t ON t.id = f.rowid "
                            "JOIN media m ON m.id = t.media_id WHERE texts_fts MATCH 'harbor'"))
    db.close()
    return {"items": items, "media": media, "texts": texts, "analyses": analyses, "fts": fts}


def same_as_fresh(root, store, what):
    fresh = store + "-fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    index(root, fresh)
    a, b = dump(store), dump(fresh)
    for k in a:
        check(a[k] == b[k], "%s: %s equal to a fresh index (%d)" % (what, k, len(a[k])))
    shutil.rmtree(fresh)
    return a


w = tempfile.mkdtemp(prefix="mg-reuse-")
root = os.path.join(w, "media")
src = os.path.join(root, "photos")
os.makedirs(src)
ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=5", "-frames:v", "12", "-q:v", "4",
       os.path.join(src, "p%02d.jpg"))
ffmpeg("-f", "lavfi", "-i", "testsrc2=duration=3:size=320x240:rate=10", "-c:v", "libx264", "-preset", "ultrafast",
       os.path.join(src, "clip.mp4"))
ffmpeg("-f", "lavfi", "-i", "color=white:size=900x300,drawtext=fontfile=%s:text='HARBOR MUSEUM':fontsize=48:"
       "x=60:y=120:fontcolor=black" % FONT, "-frames:v", "1", os.path.join(src, "sign.png"))
store = os.path.join(w, "store")

first = index(root, store)
check(first["files_ok"] == 14 and first["files_reused"] == 0, "first run: 14 files indexed, none reused")
before = dump(store)
check(before["fts"] != [], "the sign's text is found by full-text search")

# 1. the whole folder moved inside the root (every file "gone" and back)
os.rename(src, os.path.join(root, "moved"))
r = index(root, store)
check(r["files_reused"] == 14 and r["frames"] == 0, "moved folder: 14 reused, 0 frames encoded (%d, %d)" %
      (r["files_reused"], r["frames"]))
check(r["files_removed"] == 14 and r["removals_withheld"] == 0, "moved folder: old paths removed, guard not tripped")
same_as_fresh(root, store, "moved folder")

# 2. renames, a copy, and a changed file in one run
m = os.path.join(root, "moved")
os.rename(os.path.join(m, "p01.jpg"), os.path.join(m, "renamed.jpg"))
os.rename(os.path.join(m, "sign.png"), os.path.join(root, "sign-at-top.png"))
shutil.copy2(os.path.join(m, "clip.mp4"), os.path.join(root, "clip-copy.mp4"))
ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=5", "-ss", "5", "-frames:v", "1", "-q:v", "4",
       os.path.join(m, "p02.jpg"))
r = index(root, store)
check(r["files_reused"] == 3, "two renames and a copy reused (%d)" % r["files_reused"])
check(r["files_changed"] == 1 and r["frames"] >= 1, "the changed photo was decoded (%d frames)" % r["frames"])
check(r["files_removed"] == 2, "the renamed files' old paths removed (%d)" % r["files_removed"])
after = same_as_fresh(root, store, "renames + copy + change")
check(len(after["fts"]) == 1 and after["fts"][0][0].endswith("sign-at-top.png"), "the text moved with the sign")

# 3. a second run changes nothing
r = index(root, store)
check(r["files_unchanged"] == 15 and r["files_reused"] == 0 and r["files_ok"] == 0, "a second run changes nothing")

shutil.rmtree(w)
print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
