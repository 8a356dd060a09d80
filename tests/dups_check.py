#!/usr/bin/python3
"""dups_check.py - end-to-end test of `mediagrep dups` and GET /api/duplicates (ctest dups_cli).

Builds a real store with `mediagrep index` and the tiny test model (scripts/gen_tiny_models.py
--only tiny-p32) over media made with ffmpeg's lavfi sources:
  photos  eight unrelated generated pictures; an exact copy of bars.png (older mtime: the keep
          file by the "oldest" rule), a JPEG re-encode and a half-size copy of it; a JPEG
          re-encode of fractal.png;
  videos  intro_bars.mp4 and intro_fractal.mp4: the same 2 s black intro, then 4 s of different
          content (not duplicates); intro_bars_small.mp4: intro_bars re-encoded at half size
          and low quality (a near-duplicate); intro_fractal_copy.mp4: a byte copy; smpte.mp4.
Checks, against the catalog and the vectors read independently with sqlite3 and numpy: the
groups (which files, the kind, the keep file, sizes/dimensions/mtimes, similarities recomputed
from the vectors, the video frame counts), that every member of every group is within the
threshold of its keep file (also at a low threshold, where chains would otherwise form),
--exact (and a sampled hash flagged, on a copy of the store), --kind, --min-group, --threshold,
--json / --csv / table, the same groups without a usable index and with items the saved index
does not hold (on copies), errors (missing store, bad threshold, conflicting options), the store
unchanged afterwards, the HTTP endpoint (same JSON as the CLI, parameters, 400s, the page's
script), and `mediagrep bench dups` at small N (flat and HNSW: recall and precision 1).

usage: dups_check.py BUILD_DIR SOURCE_DIR
"""
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np

BUILD, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
MG = os.path.join(BUILD, "mediagrep")
FAILS = []
T = 0.95


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)
    return cond


def run(*args, ok=True):
    p = subprocess.run([MG, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"mediagrep {' '.join(args)} failed ({p.returncode})")
    return p


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def dups_json(*args, store="st"):
    p = run("dups", "--store", store, "--json", *args)
    return json.loads(p.stdout)


tmp = tempfile.mkdtemp(prefix="mgtest-dups-")
os.chdir(tmp)
for d in ("media/photos", "media/other", "media/videos"):
    os.makedirs(d)
sh("/usr/bin/python3 %s/scripts/gen_tiny_models.py --out models --only tiny-p32 >/dev/null" % SRC)
MODEL = os.path.join(tmp, "models/tiny-p32")
ff = "ffmpeg -nostdin -loglevel error -y"
for name, src in [("bars", "testsrc2=size=640x480"), ("fractal", "mandelbrot=size=640x480"),
                  ("smpte", "smptebars=size=640x480"), ("life", "life=size=320x240:mold=10:ratio=0.5:seed=3"),
                  ("sier", "sierpinski=size=400x300"), ("grad", "gradients=size=400x300:seed=5"),
                  ("rgb", "rgbtestsrc=size=320x240")]:
    sh(f"{ff} -f lavfi -i {src} -frames:v 1 media/photos/{name}.png")
sh(f"{ff} -f lavfi -i cellauto=size=320x240:rule=110 -frames:v 30 -update 1 media/photos/cell.png")
shutil.copyfile("media/photos/bars.png", "media/other/bars_copy.png")
sh(f"{ff} -i media/photos/bars.png -q:v 20 media/other/bars_q.jpg")
sh(f"{ff} -i media/photos/bars.png -vf scale=320:240 media/other/bars_small.png")
sh(f"{ff} -i media/photos/fractal.png -q:v 15 media/other/fractal_q.jpg")
black = "-f lavfi -i color=c=black:size=320x240:rate=10:d=2"
sh(f"{ff} {black} -f lavfi -i testsrc2=size=320x240:rate=10:d=4 -filter_complex '[0][1]concat=n=2:v=1' "
   "-c:v libx264 -pix_fmt yuv420p media/videos/intro_bars.mp4")
sh(f"{ff} {black} -f lavfi -i mandelbrot=size=320x240:rate=10 -filter_complex "
   "'[1]trim=duration=4,setpts=PTS-STARTPTS[b];[0][b]concat=n=2:v=1' -c:v libx264 -pix_fmt yuv420p "
   "media/videos/intro_fractal.mp4")
sh(f"{ff} -i media/videos/intro_bars.mp4 -vf scale=160:120 -c:v libx264 -crf 35 media/other/intro_bars_small.mp4")
shutil.copyfile("media/videos/intro_fractal.mp4", "media/other/intro_fractal_copy.mp4")
sh(f"{ff} -f lavfi -i smptebars=size=320x240:rate=10:d=6 -c:v libx264 -pix_fmt yuv420p media/videos/smpte.mp4")
# mtimes: distinct, in path order (so other/intro_fractal_copy.mp4 is older than videos/intro_fractal.mp4),
# and the byte copy of bars.png the oldest file
base_t = 1700000000
for i, f in enumerate(sorted(os.path.join(dp, n) for dp, _, ns in os.walk("media") for n in ns)):
    os.utime(f, (base_t + 100 * i, base_t + 100 * i))
os.utime("media/other/bars_copy.png", (base_t - 1000, base_t - 1000))
run("index", "media", "--store", "st", "--model", MODEL, "--quiet")


def digest(store="st"):
    h = hashlib.sha256()
    for f in sorted(os.listdir(store)):
        if os.path.isdir(os.path.join(store, f)):  # thumbs/: the server's thumbnail cache, not content
            continue
        if f in ("catalog.db-shm", "catalog.db-wal") and (f.endswith("-shm") or os.path.getsize(store + "/" + f) == 0):
            continue
        with open(os.path.join(store, f), "rb") as fh:
            h.update(f.encode() + fh.read())
    return h.hexdigest()


before = digest()

# ---- the reference: catalog rows and vectors read directly ----
db = sqlite3.connect("file:st/catalog.db?mode=ro", uri=True)
model_id, dim, dtype, vec_file = db.execute("SELECT id, dim, dtype, vec_file FROM models").fetchone()
raw = np.fromfile(os.path.join("st", vec_file), dtype=np.float32 if dtype == 0 else np.float16, offset=64)
vecs = raw.reshape(-1, dim).astype(np.float64)
media = {}
for mid, path, kind, size, mt, w, h, dur, hsh in db.execute(
        "SELECT id, path, kind, size, mtime_ns, width, height, duration_ms, hash FROM media WHERE status='ok'"):
    media[os.path.basename(path)] = dict(id=mid, path=path, kind=kind, size=size, mtime_ns=mt, width=w, height=h,
                                         duration_ms=dur, hash=hsh)
frames = {}
for name, m in media.items():
    rows = db.execute("SELECT frame_index, time_ms, vec_row FROM items WHERE media_id=? ORDER BY frame_index",
                      (m["id"],)).fetchall()
    frames[name] = [(f, t, vecs[r] / np.linalg.norm(vecs[r])) for f, t, r in rows]
db.close()
check(len(media) == 17, f"17 files indexed ({len(media)})")


def cos(a, b):
    return float(frames[a][0][2] @ frames[b][0][2])


def aligned(a, b):
    """the video rule's aligned frame cosines (dups.h), both directions"""
    out = []
    for x, y in ((a, b), (b, a)):
        fx = [f for f in frames[x] if f[0] >= 0]
        fy = [f for f in frames[y] if f[0] >= 0]
        dx, dy = media[x]["duration_ms"], media[y]["duration_ms"]
        for _, t, v in fx:
            tt = t * dy / dx
            g = min(fy, key=lambda f: (abs(f[1] - tt), f[1]))
            out.append(float(v @ g[2]))
    return out


def pooled(a, b):
    return float(frames[a][0][2] @ frames[b][0][2])  # frame -1 sorts first


# the set-up does what it claims: the intro really is shared, the content after it is not
al = aligned("intro_bars.mp4", "intro_fractal.mp4")
check(sum(c >= 0.99 for c in al) >= 4, f"intro_bars / intro_fractal share their black frames {al}")
check(sum(c >= T for c in al) < 0.8 * len(al), f"... and differ after them {al}")
print("pooled cosine intro_bars / intro_fractal: %.4f; aligned frames %s" % (pooled("intro_bars.mp4", "intro_fractal.mp4"),
                                                                               [round(c, 3) for c in al]))
al2 = aligned("intro_bars.mp4", "intro_bars_small.mp4")
check(all(c >= T for c in al2), f"intro_bars_small is a near copy {al2}")
for a, b in [("bars.png", "bars_q.jpg"), ("bars.png", "bars_small.png"), ("fractal.png", "fractal_q.jpg")]:
    check(cos(a, b) >= T + 0.02, f"{a} / {b} near ({cos(a, b):.4f})")
photos = [n for n in media if media[n]["kind"] == "image"]
originals = ["bars.png", "fractal.png", "smpte.png", "life.png", "sier.png", "grad.png", "rgb.png", "cell.png"]
worst = max(cos(a, b) for i, a in enumerate(originals) for b in originals[i + 1:])
check(worst < T - 0.05, f"the unrelated photos are apart (max cosine {worst:.4f})")


def names(group):
    return sorted(f["name"] for f in group["files"])


def group_sets(res):
    return sorted((g["kind"], tuple(names(g)), g["files"][0]["name"]) for g in res["groups"])


# ---- the default: near-duplicates at 0.95 ----
res = dups_json()
want = sorted([("image", ("bars.png", "bars_copy.png", "bars_q.jpg", "bars_small.png"), "bars_copy.png"),
               ("image", ("fractal.png", "fractal_q.jpg"), "fractal.png"),
               ("video", ("intro_bars.mp4", "intro_bars_small.mp4"), "intro_bars.mp4"),
               ("video", ("intro_fractal.mp4", "intro_fractal_copy.mp4"), "intro_fractal_copy.mp4")])
check(group_sets(res) == want, f"near groups {group_sets(res)} != {want}")
check(res["mode"] == "near" and res["threshold"] == T and res["min_group"] == 2 and res["kind"] is None, "header")
check(res["groups_count"] == 4 and res["files_in_groups"] == 10, "counts")
check(res["files"] == 17 and res["method"] == "flat", f"files considered and method ({res['files']}, {res['method']})")
check(res["reclaimable_bytes"] == sum(g["reclaimable_bytes"] for g in res["groups"]), "reclaimable total")
recl = [g["reclaimable_bytes"] for g in res["groups"]]
check(recl == sorted(recl, reverse=True), "groups ordered by reclaimable bytes")
for g in res["groups"]:
    fs = g["files"]
    keep = fs[0]
    check(keep["keep"] and not any(f["keep"] for f in fs[1:]) and g["keep"] == keep["media_id"], "one keep, first")
    check(g["reclaimable_bytes"] == sum(f["size"] for f in fs[1:]), "group reclaimable")
    # keep rule: largest resolution, then size, then oldest
    key = lambda f: (-f["width"] * f["height"], -f["size"], f["mtime_ns"], f["media_id"])  # noqa: E731
    check(min(fs, key=key)["media_id"] == keep["media_id"], f"keep rule in group {names(g)}")
    for f in fs:
        m = media[f["name"]]
        check((f["media_id"], f["path"], f["kind"], f["size"], f["width"], f["height"], f["mtime_ns"], f["hash"],
               f["duration_ms"]) == (m["id"], m["path"], m["kind"], m["size"], m["width"], m["height"], m["mtime_ns"],
                                     m["hash"], m["duration_ms"]), f"{f['name']}: fields equal the catalog")
        check(f["mtime"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["mtime_ns"] // 10**9)), "mtime ISO")
        check(f["identical"] == (f["hash"] == keep["hash"]), "identical flag")
        check(not f["sampled_hash"], "no sampled hashes here")
        if f["keep"]:
            check(f["similarity"] == 1.0, "keep similarity 1")
            continue
        if g["kind"] == "image":
            check(abs(f["similarity"] - cos(f["name"], keep["name"])) < 1e-5, f"{f['name']}: similarity = cosine")
            check(f["frames_compared"] == 0, "photos have no frame counts")
        else:
            a = aligned(keep["name"], f["name"])
            check(abs(f["similarity"] - sum(a) / len(a)) < 1e-5, f"{f['name']}: similarity = mean aligned cosine")
            check(f["frames_compared"] == len(a) == 16 and f["frames_matched"] == sum(c >= T for c in a), "frames")
    check(g["exact"] == (len({f["hash"] for f in fs}) == 1), "group exact flag")
    check(abs(g["min_similarity"] - min(f["similarity"] for f in fs)) < 1e-6, "min_similarity")
bars = next(g for g in res["groups"] if "bars.png" in names(g))
check(next(f for f in bars["files"] if f["name"] == "bars.png")["identical"], "the byte copy is marked identical")

# ---- the grouping rule: every member within T of its keep file, also where chains would form ----
for th in ("0.5", "0.7", "0.9"):
    r = dups_json("--threshold", th)
    t = float(th)
    seen = set()
    for g in r["groups"]:
        keep = g["files"][0]["name"]
        for f in g["files"]:
            check(f["name"] not in seen, f"threshold {th}: {f['name']} in one group only")
            seen.add(f["name"])
            if f["keep"]:
                continue
            s = cos(f["name"], keep) if g["kind"] == "image" else None
            if s is not None:
                check(s >= t - 1e-6, f"threshold {th}: {f['name']} within {th} of its keep file {keep} ({s:.3f})")
            else:
                a = aligned(keep, f["name"])
                check(sum(c >= t for c in a) >= 0.8 * len(a) - 1e-9, f"threshold {th}: video rule for {f['name']}")
    if th == "0.5":
        check(r["groups_count"] >= 2 and r["files_in_groups"] > 10, "a low threshold groups more files")
        # at 0.5 there are chains among the unrelated photos: a plain component would put (almost) all in one
        comp_pairs = [(a, b) for i, a in enumerate(photos) for b in photos[i + 1:] if cos(a, b) >= t]
        check(len(comp_pairs) > 0, "pairs at 0.5 exist")

# ---- --threshold narrower: the half-size and re-encoded copies stay out at 0.99999 ----
r = dups_json("--threshold", "0.99999", "--kind", "image")
check(all(g["kind"] == "image" for g in r["groups"]), "--kind image")
for g in r["groups"]:
    for f in g["files"][1:]:
        check(cos(f["name"], g["files"][0]["name"]) >= 0.99999 - 1e-6, "0.99999: members within it")

# ---- --kind ----
r = dups_json("--kind", "video")
check(group_sets(r) == [w for w in want if w[0] == "video"] and r["kind"] == "video", f"--kind video {group_sets(r)}")
check(r["files"] == 5, f"--kind video considers the 5 videos ({r['files']})")
r = dups_json("--kind", "image")
check(group_sets(r) == [w for w in want if w[0] == "image"], "--kind image groups")

# ---- --min-group ----
r = dups_json("--min-group", "3")
check(group_sets(r) == [want[0]] and r["min_group"] == 3, f"--min-group 3 {group_sets(r)}")
r = dups_json("--min-group", "5")
check(r["groups"] == [] and r["groups_count"] == 0, "--min-group 5: none")

# ---- --exact ----
r = dups_json("--exact")
wx = sorted([("image", ("bars.png", "bars_copy.png"), "bars_copy.png"),
             ("video", ("intro_fractal.mp4", "intro_fractal_copy.mp4"), "intro_fractal_copy.mp4")])
check(group_sets(r) == wx, f"--exact groups {group_sets(r)}")
check(r["mode"] == "exact" and r["threshold"] is None and r["method"] == "hash", "exact header")
check(all(g["exact"] and not g["sampled_hash"] for g in r["groups"]), "exact flags")
check(group_sets(dups_json("--exact", "--kind", "video")) == [wx[1]], "--exact --kind video")
check(dups_json("--exact", "--min-group", "3")["groups"] == [], "--exact --min-group 3")
# a sampled hash (files over 256 MiB) is flagged: on a copy of the store whose two bars rows carry one
shutil.copytree("st", "st-sampled")
c = sqlite3.connect("st-sampled/catalog.db")
c.execute("UPDATE media SET hash='x3s:0123456789abcdef0123456789abcdef' WHERE path LIKE '%/bars.png' OR "
          "path LIKE '%/bars_copy.png'")
c.commit()
c.close()
r = dups_json("--exact", store="st-sampled")
g = next(g for g in r["groups"] if "bars.png" in names(g))
check(g["sampled_hash"] and all(f["sampled_hash"] for f in g["files"]), "sampled hash flagged")
check("sampled" in r["note"] and "256 MiB" in r["note"], "the note explains sampled hashes")
p = run("dups", "--store", "st-sampled", "--exact")
check("sampled hashes of files over 256 MiB" in p.stdout, "the table says so")

# ---- the same groups without a usable index, and with items the saved index does not hold ----
shutil.copytree("st", "st-noindex")
for f in os.listdir("st-noindex"):
    if f.startswith("index-"):
        os.remove(os.path.join("st-noindex", f))
r = dups_json(store="st-noindex")
check(group_sets(r) == want and r["method"].startswith("exact scan"), f"no index: {group_sets(r)} {r['method']}")
shutil.copytree("st", "st-unindexed")
c = sqlite3.connect("st-unindexed/catalog.db")
mx = c.execute("SELECT max(id) FROM items").fetchone()[0]
c.execute("UPDATE models SET index_max_item=?", (mx // 2,))
c.commit()
c.close()
r = dups_json(store="st-unindexed")
check(group_sets(r) == want, f"items after the saved index: {group_sets(r)}")

# ---- CSV and table ----
p = run("dups", "--store", "st", "--csv")
rows = list(csv.DictReader(io.StringIO(p.stdout)))
check(list(rows[0].keys()) == ["group", "kind", "keep", "similarity", "frames_matched", "frames_compared", "width",
                               "height", "size", "duration_ms", "mtime", "path", "hash", "sampled_hash"], "CSV header")
check(len(rows) == 10, f"CSV rows ({len(rows)})")
for g_i, g in enumerate(res["groups"]):
    grow = [r for r in rows if r["group"] == str(g_i + 1)]
    check([r["path"] for r in grow] == [f["path"] for f in g["files"]], "CSV rows in JSON order")
    check([r["keep"] for r in grow] == ["1"] + ["0"] * (len(grow) - 1), "CSV keep column")
    check(all(int(r["size"]) == f["size"] and r["mtime"] == f["mtime"] for r, f in zip(grow, g["files"])), "CSV fields")
check("4 groups" in p.stderr and "nothing was deleted" in p.stderr, "CSV summary on stderr")
p = run("dups", "--store", "st")
check(p.stdout.count("group ") == 4 and "keep" in p.stdout and media["bars_copy.png"]["path"] in p.stdout,
      "table output")
check("identical" in p.stdout and "16/16" in p.stdout, "table marks identical files and video frame counts")
check("4 groups, 10 files in groups" in p.stdout, "table summary")

# ---- errors ----
p = run("dups", "--store", "nowhere", ok=False)
check(p.returncode == 1 and "nowhere" in p.stderr, f"missing store: rc {p.returncode} {p.stderr!r}")
for bad in ("1.5", "0", "-0.2", "abc", ""):
    p = run("dups", "--store", "st", "--threshold", bad, ok=False)
    check(p.returncode == 2 and "--threshold" in p.stderr, f"bad threshold {bad!r}: rc {p.returncode}")
for args in (["--csv", "--json"], ["--kind", "audio"], ["--min-group", "1"], ["--bogus"], ["--threshold"]):
    p = run("dups", "--store", "st", *args, ok=False)
    check(p.returncode == 2, f"usage error {args}: rc {p.returncode}")
os.makedirs("empty-store")
p = run("dups", "--store", "empty-store", ok=False)
check(p.returncode == 1, f"not a store: rc {p.returncode}")
p = run("dups", "--help")
check("--threshold" in p.stdout and "0.95" in p.stdout, "help")

# ---- the HTTP endpoint ----
server = subprocess.Popen([MG, "serve", "--store", "st", "--model", MODEL, "--port", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    line, t0 = "", time.time()
    while "http://" not in line:
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            raise SystemExit("mediagrep serve exited %d" % server.returncode)
        if time.time() - t0 > 60:
            raise SystemExit("mediagrep serve did not print its URL")
    url = line[line.index("http://"):].split()[0].rstrip("/")

    def get(path):
        try:
            with urllib.request.urlopen(url + path, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def same(a, b):
        a, b = dict(a), dict(b)
        for o in (a, b):
            o.pop("seconds", None)
            o.pop("store", None)
        return a == b

    for q, args in [("", []), ("?kind=video", ["--kind", "video"]), ("?exact=1", ["--exact"]),
                    ("?min_group=3", ["--min-group", "3"]), ("?threshold=0.5", ["--threshold", "0.5"]),
                    ("?exact=true&kind=image", ["--exact", "--kind", "image"]),
                    ("?threshold=0.9&kind=image&min_group=2", ["--threshold", "0.9", "--kind", "image"])]:
        code, body = get("/api/duplicates" + q)
        check(code == 200, f"GET /api/duplicates{q}: {code} {body[:200]}")
        if code == 200:
            check(same(json.loads(body), dups_json(*args)), f"/api/duplicates{q} equals dups --json {args}")
    code, body = get("/api/duplicates")
    check(code == 200 and same(json.loads(body), res), "a repeated request (cached) gives the same groups")
    for q in ("threshold=2", "threshold=0", "threshold=x", "kind=audio", "exact=maybe", "min_group=1",
              "min_group=x"):
        code, body = get("/api/duplicates?" + q)
        check(code == 400 and "error" in json.loads(body), f"/api/duplicates?{q}: {code}")
    code, body = get("/dups.js")
    check(code == 200 and "/api/duplicates" in body, "the page's duplicates script is served")
    code, body = get("/")
    check(code == 200 and "dups.js" in body and "Duplicates" in body, "the page links the Duplicates view")
    code, body = get("/metrics")
    check(code == 200 and 'route="duplicates"' in body, "metrics count the route")
finally:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()

check(digest() == before, "the store is unchanged by dups and the server's duplicates requests")
check(all(os.path.exists(m["path"]) for m in media.values()), "no file was deleted")

# ---- bench dups at small N: flat, the HNSW graph and HNSW searches find every planted group ----
for index, extra, method in (("flat", [], "flat"), ("hnsw", [], "hnsw graph"), ("hnsw", ["--no-graph"], "hnsw")):
    p = run("bench", "dups", "--n", "5000", "--dir", os.path.join(tmp, "bench"), "--index", index, *extra)
    row = [l for l in p.stdout.splitlines() if l.startswith("| " + method + " |")]
    if check(len(row) == 1, f"bench dups {index}: result row\n{p.stdout}"):
        cells = [c.strip() for c in row[0].strip("|").split("|")]
        recall, precision = float(cells[3]), float(cells[4])
        check(recall >= 0.99 and precision >= 0.99, f"bench dups {index}: recall {recall} precision {precision}")
        found, planted = cells[2].split(",")[0].split(" (")
        check(int(found) == int(planted.rstrip(")")), f"bench dups {index}: groups {cells[2]}")
        k_ok, k_all = cells[6].split(" of ")
        check(k_ok == k_all, f"bench dups {index}: keep files {cells[6]}")

if FAILS:
    print(f"{len(FAILS)} checks failed")
    sys.exit(1)
shutil.rmtree(tmp, ignore_errors=True)
print("dups: all checks passed")
