#!/usr/bin/python3
"""capture_check.py - capture metadata end to end (ctest capture_cli).

Makes photos in six formats (JPEG, PNG, WebP, TIFF, HEIC, AVIF) and two
videos (QuickTime, MP4), tags them with exiftool and ffmpeg (dates with and
without offsets, GPS north/east and south/west, camera, lens), plus files
without metadata and one with a damaged EXIF block, then checks:
  - `mediagrep meta --json` equals exiftool's own reading (-n) of each file;
  - `index` stores the rows (status counts them), and search's --taken-after
    /--taken-before, --near/--radius, --camera, --lens select exactly the
    files the metadata says, with the rest counted as lacking the field;
    the same through the library (Python package) and the HTTP API;
  - a store made before capture rows existed (schema 3, no table) gets
    them on the next `index` without a single frame encoded again;
  - a file whose metadata is rewritten gets its new values on the next run.
Exit 77 when exiftool is missing (scripts/install-deps.sh installs it).

usage: capture_check.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
MG = os.path.join(BUILD, "mediagrep")
MODEL = os.path.join(BUILD, "test-models", "tiny-p32")
FAILS = []

if not shutil.which("exiftool"):
    print("SKIP: exiftool not installed (apt-get install libimage-exiftool-perl)")
    sys.exit(77)


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def run(*args, ok=True):
    p = subprocess.run([MG, *args], capture_output=True, text=True)
    if ok and p.returncode not in (0, 1):
        print(p.stdout, p.stderr)
        raise SystemExit(f"mediagrep {' '.join(args)} failed ({p.returncode})")
    return p


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


tmp = tempfile.mkdtemp(prefix="mgtest-capture-")
os.chdir(tmp)
os.makedirs("media")
ff = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"]
PARIS = dict(DateTimeOriginal="2021:07:04 18:30:05", OffsetTimeOriginal="+02:00", GPSLatitude="48.8584",
             GPSLatitudeRef="N", GPSLongitude="2.2945", GPSLongitudeRef="E", GPSAltitude="35.5",
             GPSAltitudeRef="0", Make="Canon", Model="Canon EOS R5", LensModel="RF24-105mm F4 L IS USM")
SYDNEY = dict(DateTimeOriginal="2019:12:31 23:59:59", GPSLatitude="33.8568", GPSLatitudeRef="S",
              GPSLongitude="151.2153", GPSLongitudeRef="E", Make="NIKON CORPORATION", Model="NIKON Z 6")
photos = {}
for ext, tags in (("jpg", PARIS), ("png", PARIS), ("webp", SYDNEY), ("tiff", PARIS)):
    p = f"media/paris.{ext}" if tags is PARIS else f"media/sydney.{ext}"
    sh(*ff, "testsrc2=size=320x240", "-frames:v", "1", p)
    sh("exiftool", "-q", "-overwrite_original", *[f"-{k}={v}" for k, v in tags.items()], p)
    photos[p] = tags
sh(*ff, "mandelbrot=size=256x192", "-frames:v", "1", "media/src.jpg")
sh("exiftool", "-q", "-overwrite_original", *[f"-{k}={v}" for k, v in SYDNEY.items()], "media/src.jpg")
for ext, extra in (("heic", []), ("avif", ["-A"])):
    sh("heif-enc", *extra, "-q", "60", "media/src.jpg", "-o", f"media/tokyo.{ext}")
    sh("exiftool", "-q", "-overwrite_original", "-DateTimeOriginal=2020:01:02 03:04:05", "-OffsetTimeOriginal=+09:00",
       "-GPSLatitude=35.6586", "-GPSLatitudeRef=N", "-GPSLongitude=139.7454", "-GPSLongitudeRef=E", "-Make=Apple",
       "-Model=iPhone 12", f"media/tokyo.{ext}")
os.remove("media/src.jpg")
sh(*ff, "testsrc2=size=160x120:rate=5", "-t", "2", "-c:v", "libx264", "-metadata",
   "creation_time=2022-03-01T10:00:00.000000Z", "-metadata", "location=+40.6892-074.0445+010.000/",
   "-metadata", "make=Apple", "-metadata", "model=iPhone 14", "-movflags", "use_metadata_tags", "media/liberty.mov")
sh(*ff, "smptebars=size=160x120:rate=5", "-t", "2", "-c:v", "libx264", "-metadata",
   "creation_time=2023-08-15T08:00:00Z", "media/plain.mp4")
sh(*ff, "mandelbrot=size=200x150", "-frames:v", "1", "media/untagged.png")
# a JPEG whose EXIF block is damaged (its IFD offset points past the end)
sh(*ff, "testsrc2=size=160x120", "-frames:v", "1", "media/damaged.jpg")
raw = open("media/damaged.jpg", "rb").read()
app1 = b"Exif\0\0II*\0\xff\xff\x00\x00" + b"\0" * 20
open("media/damaged.jpg", "wb").write(raw[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + raw[2:])

files = sorted(os.path.join("media", f) for f in os.listdir("media"))

# 1. mediagrep meta equals exiftool's reading
ours = {json.loads(l)["path"]: json.loads(l) for l in run("meta", "--json", *files).stdout.splitlines()}
theirs = {d["SourceFile"]: d for d in json.loads(subprocess.run(
    ["exiftool", "-n", "-j", "-DateTimeOriginal", "-OffsetTimeOriginal", "-GPSLatitude", "-GPSLongitude",
     "-GPSAltitude", "-Make", "-Model", "-LensModel", "-Orientation", "-CreateDate", "-GPSCoordinates", *files],
    capture_output=True, text=True).stdout)}
for f in files:
    o, t = ours.get(f, {}), theirs.get(f, {})
    if f.endswith((".mov", ".mp4")):
        # QuickTime: creation_time (UTC) is CreateDate; location is GPSCoordinates "lat lon alt"
        if "CreateDate" in t:
            check(o.get("taken", "").startswith(t["CreateDate"].replace(":", "-", 2)), f"{f}: taken {o} vs {t}")
        # exiftool gives a Keys/UserData location as Composite:GPSLatitude/GPSLongitude
        if "GPSCoordinates" in t or "GPSLatitude" in t:
            lat, lon = ((t["GPSLatitude"], t["GPSLongitude"]) if "GPSLatitude" in t
                        else map(float, str(t["GPSCoordinates"]).split()[:2]))
            check(abs(o.get("latitude", 99) - lat) < 1e-4 and abs(o.get("longitude", 999) - lon) < 1e-4,
                  f"{f}: gps {o} vs {t}")
        else:
            check("latitude" not in o, f"{f}: gps without a location tag: {o}")
        continue
    if "DateTimeOriginal" in t:
        want = t["DateTimeOriginal"].replace(":", "-", 2) + t.get("OffsetTimeOriginal", "")
        check(o.get("taken") == want, f"{f}: taken {o.get('taken')} vs exiftool {want}")
    else:
        check("taken" not in o, f"{f}: a date exiftool does not see: {o}")
    if "GPSLatitude" in t:
        check(abs(o.get("latitude", 99) - t["GPSLatitude"]) < 1e-6 and abs(o.get("longitude", 999) - t["GPSLongitude"]) < 1e-6,
              f"{f}: gps {o} vs {t}")
    else:
        check("latitude" not in o, f"{f}: gps exiftool does not see: {o}")
    if "GPSAltitude" in t:
        check(abs(o.get("altitude", -1e9) - t["GPSAltitude"]) < 1e-6, f"{f}: altitude")
    for ok_, tk in (("make", "Make"), ("model", "Model"), ("lens", "LensModel"), ("orientation", "Orientation")):
        if tk in t:
            check(str(o.get(ok_)) == str(t[tk]), f"{f}: {ok_} {o.get(ok_)!r} vs exiftool {t[tk]!r}")
        else:
            check(ok_ not in o, f"{f}: {ok_} that exiftool does not see")
check(set(ours["media/untagged.png"]) == {"path"}, "untagged.png has no fields")
check(set(ours["media/damaged.jpg"]) <= {"path"}, f"damaged.jpg gives no fields: {ours['media/damaged.jpg']}")
check(ours["media/liberty.mov"].get("make") == "Apple" and ours["media/liberty.mov"].get("model") == "iPhone 14",
      "liberty.mov camera")
check(run("meta", "media/none.jpg", ok=False).returncode == 1, "meta: a missing file fails")

# 2. index stores them; filters select by them
idx = json.loads(run("index", "media", "--store", "st", "--model", MODEL, "--quiet", "--json").stdout)
check(idx["captures_read"] == len(files), f"captures_read {idx['captures_read']} of {len(files)}")
check(idx["captures_found"] == len(files) - 2, f"captures_found {idx['captures_found']}")
st = json.loads(run("status", "--store", "st", "--json").stdout)["capture"]
check(st == {"files_read": 10, "with_date": 8, "with_gps": 7, "with_camera": 7, "with_lens": 3}, f"status {st}")
again = json.loads(run("index", "media", "--store", "st", "--model", MODEL, "--quiet", "--json").stdout)
check(again["captures_read"] == 0, "an unchanged run reads nothing again")


def names(*args):
    d = json.loads(run("search", "x", "--store", "st", "--no-cutoff", "-k", "50", "--json", *args).stdout)
    return sorted(os.path.basename(r["path"]) for r in d["results"]), d.get("excluded_no_capture", 0), d


n, ex, _ = names("--taken-after", "2021-01-01")
check(n == ["liberty.mov", "paris.jpg", "paris.png", "paris.tiff", "plain.mp4"], f"taken-after: {n}")
check(ex == 2, f"taken-after: {ex} files counted as undated")
n, _, _ = names("--taken-after", "2021-07-04", "--taken-before", "2021-07-04")
check(n == ["paris.jpg", "paris.png", "paris.tiff"], f"taken on the day: {n}")
n, _, _ = names("--taken-before", "2019-12-31")
check(n == ["sydney.webp"], f"taken-before, inclusive: {n}")
n, ex, _ = names("--near", "48.8606,2.3376", "--radius", "3.5")  # the Louvre, 3.2 km from the tower
check(n == ["paris.jpg", "paris.png", "paris.tiff"], f"near paris 3.5 km: {n}")
check(ex == 3, f"near: {ex} without GPS")
n, _, _ = names("--near", "48.8606,2.3376", "--radius", "3")
check(n == [], f"near paris 3 km: {n}")
n, _, _ = names("--near", "-33.8688,151.2093")  # default radius 5 km
check(n == ["sydney.webp"], f"near sydney: {n}")
n, _, _ = names("--near", "40.69,-74.04", "--radius", "1")
check(n == ["liberty.mov"], f"near liberty: {n}")
n, _, _ = names("--camera", "iphone")
check(n == ["liberty.mov", "tokyo.avif", "tokyo.heic"], f"camera iphone: {n}")
n, _, _ = names("--camera", "nikon z")
check(n == ["sydney.webp"], f"camera nikon: {n}")
n, ex, _ = names("--lens", "105MM", "--kind", "image")
check(n == ["paris.jpg", "paris.png", "paris.tiff"] and ex == 5, f"lens: {n} {ex}")
_, _, d = names("--camera", "canon")
cap = next(r["capture"] for r in d["results"] if r["path"].endswith("paris.jpg"))
check(cap == {"taken": "2021-07-04 18:30:05+02:00", "latitude": 48.8584, "longitude": 2.2945, "altitude": 35.5,
              "make": "Canon", "model": "Canon EOS R5", "lens": "RF24-105mm F4 L IS USM"}, f"result capture {cap}")
# classify takes the same filters
cl = json.loads(run("classify", "--labels", "a photo,a drawing", "--store", "st", "--camera", "iphone", "--json",
                    "--quiet").stdout)
check(sorted(os.path.basename(i["path"]) for i in cl["items"]) == ["liberty.mov", "tokyo.avif", "tokyo.heic"]
      and cl["excluded_no_capture"] == 3, f"classify --camera: {[i['path'] for i in cl['items']]} {cl['excluded_no_capture']}")
check(all(i["capture"]["make"] == "Apple" for i in cl["items"]), "classify items carry their capture")
cl = json.loads(run("classify", "--labels", "a photo,a drawing", "--store", "st", "--near", "48.8606,2.3376",
                    "--radius", "3.5", "--taken-before", "2021-07-04", "--json", "--quiet").stdout)
check(sorted(os.path.basename(i["path"]) for i in cl["items"]) == ["paris.jpg", "paris.png", "paris.tiff"],
      f"classify --near --taken-before: {[i['path'] for i in cl['items']]}")
check(run("classify", "--labels", "a,b", "--store", "st", "--radius", "x", ok=False).returncode == 2,
      "classify: bad radius refused")
for bad in (["--near", "91,0"], ["--near", "paris"], ["--radius", "-1"], ["--taken-after", "2021-13-01"]):
    check(run("search", "x", "--store", "st", *bad, ok=False).returncode == 2, f"refused: {bad}")

# the library (Python package) and the HTTP API take the same filters
sys.path.insert(0, os.path.join(SRC, "python"))
os.environ["MEDIAGREP_LIB"] = os.path.join(BUILD, "libmediagrep.so.1")
import mediagrep  # noqa: E402

with mediagrep.Store("st") as s:
    lib = s.search("x", cutoff=False, k=50, near="48.8606,2.3376", radius_km=3.5)
    cli = names("--near", "48.8606,2.3376", "--radius", "3.5")[2]
    check(lib.results == cli["results"] if hasattr(lib, "results") else list(lib) == cli["results"],
          "library near == CLI near")
    lib = s.search("x", cutoff=False, k=50, taken_after="2021-01-01", camera="apple")
    check(sorted(os.path.basename(r["path"]) for r in lib) == ["liberty.mov"], "library taken_after+camera")
    cl = s.classify(["a photo", "a drawing"], camera="iphone")
    cli = json.loads(run("classify", "--labels", "a photo,a drawing", "--store", "st", "--camera", "iphone", "--json",
                         "--quiet").stdout)
    cli.pop("store"); cl.pop("store")
    check(cl == cli, "library classify camera= equals the CLI's --camera")
    try:
        s.search("x", near=[100, 0])
        check(False, "library: near out of range refused")
    except mediagrep.MediagrepError as e:
        check("latitude" in str(e), f"library near error: {e}")

sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()
srv = subprocess.Popen([MG, "serve", "--store", "st", "--port", str(port)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
try:
    body = None
    for _ in range(100):
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=x&cutoff=0&k=50&camera=iphone",
                                          timeout=5).read()
            break
        except OSError:
            time.sleep(0.1)
    d = json.loads(body)
    check(sorted(os.path.basename(r["path"]) for r in d["results"]) == ["liberty.mov", "tokyo.avif", "tokyo.heic"],
          f"HTTP camera: {d['results']}")
    # damaged.jpg, plain.mp4 and untagged.png name no camera, as in the CLI's answer
    check(d.get("excluded_no_capture") == 3 == names("--camera", "iphone")[1],
          f"HTTP excluded {d.get('excluded_no_capture')}")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=x&near=1000,0", timeout=5)
        check(False, "HTTP bad near refused")
    except urllib.error.HTTPError as e:
        check(e.code == 400, f"HTTP bad near: {e.code}")
finally:
    srv.terminate()
    srv.wait()

# 3. a store from before capture rows: the next index reads them, encodes nothing
db = sqlite3.connect("st/catalog.db")
db.executescript("DROP TRIGGER media_capture_ad; DROP TABLE capture; PRAGMA user_version=3;")
db.close()
old = json.loads(run("status", "--store", "st", "--json").stdout)
check("capture" not in old or old["capture"]["files_read"] == 0, f"old store status: {old.get('capture')}")
up = json.loads(run("index", "media", "--store", "st", "--model", MODEL, "--quiet", "--json").stdout)
check(up["frames"] == 0 and up["files_unchanged"] == len(files), f"backfill encoded nothing: {up}")
check(up["captures_read"] == len(files), f"backfill read {up['captures_read']}")
check(names("--camera", "iphone")[0] == ["liberty.mov", "tokyo.avif", "tokyo.heic"], "filters after the backfill")

# 4. rewritten metadata is read again
sh("exiftool", "-q", "-overwrite_original", "-Make=Fujifilm", "-Model=X-T5", "media/sydney.webp")
up = json.loads(run("index", "media", "--store", "st", "--model", MODEL, "--quiet", "--json").stdout)
check(up["captures_read"] == 1, f"one changed file read again: {up['captures_read']}")
check(names("--camera", "x-t5")[0] == ["sydney.webp"], "new camera found")
check(names("--camera", "nikon")[0] == [], "old camera gone")

# 5. the catalog keeps an image's own size, upright, not the size shrink-on-load decoded
os.makedirs("big")
sh(*ff, "testsrc2=size=2000x1000", "-frames:v", "1", "big/wide.jpg")
sh("exiftool", "-q", "-overwrite_original", "-Orientation#=6", "big/wide.jpg")  # shown rotated a quarter
run("index", "big", "--store", "st2", "--model", MODEL, "--quiet")
db = sqlite3.connect("st2/catalog.db")
wh = db.execute("SELECT width, height FROM media WHERE path LIKE '%wide.jpg'").fetchall()
db.close()
check(wh == [(1000, 2000)], f"stored size of a 2000x1000 JPEG shown rotated: {wh}")

if FAILS:
    print(f"{len(FAILS)} checks failed")
    sys.exit(1)
shutil.rmtree(tmp)
print("capture_check: all checks passed")
