#!/usr/bin/python3
"""watch_check.py - `mediagrep index --watch` end to end (ctest watch_cli).

With the tiny test model, on generated photos and a video, while
`index --watch` runs (inotify, --debounce 500, --json: one summary line per
pass):
  - files added, rewritten and deleted end in the same store as a fresh
    `index` of the final folder (media rows, items, vector bytes), and a
    search sees a new file while the watcher still runs;
  - a renamed file and a whole folder moved elsewhere in the tree are not
    encoded again (0 frames in those passes; files_reused);
  - a large file written in chunks over ~2 s is encoded once (one frame,
    over all the passes that saw it) and never recorded as failed;
  - hidden and --exclude'd files written while watching start no pass;
  - SIGKILL while a batch is in flight, changes while nothing watches, then
    a restart of `index --watch`: the store ends equal to a fresh index;
  - SIGINT and SIGTERM exit 0, also in the middle of a batch;
  - a root whose contents are all moved away (an unmounted drive) removes
    nothing and says so; when they are back nothing is encoded again;
  - `--poll 1` says it polls and picks up an added and a deleted file;
  - (as root, where tmpfs can be mounted) a second root on a drive that is
    unmounted loses nothing and says so; mounted again (the same files) it
    costs nothing, and a file added on it is indexed;
  - the inotify watch limit reached (MEDIAGREP_TEST_MAX_WATCHES makes the
    third watch fail with ENOSPC): it says so and polls every 30 s.

usage: watch_check.py MEDIAGREP TEST_MODELS_DIR
"""
import atexit
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

BIN, MODELS = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
MODEL = os.path.join(MODELS, "tiny-p32")
DEBOUNCE_MS = 500
FAILS = []
T0 = time.time()


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


w = tempfile.mkdtemp(prefix="mg-watch-")
root = os.path.join(w, "media")
pool = os.path.join(w, "pool")       # files made in advance, copied in while watching
store = os.path.join(w, "store")
os.makedirs(os.path.join(root, "a"))
os.makedirs(os.path.join(root, "b", "deep"))
os.makedirs(pool)
ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=5", "-frames:v", "6", "-q:v", "4",
       os.path.join(root, "a", "p%02d.jpg"))
ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=160x120:rate=5", "-frames:v", "3", os.path.join(root, "b", "q%02d.png"))
ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=160x120:rate=5", "-ss", "2", "-frames:v", "2",
       os.path.join(root, "b", "deep", "r%02d.png"))
ffmpeg("-f", "lavfi", "-i", "testsrc2=duration=2:size=160x120:rate=10", "-c:v", "libx264", "-preset", "ultrafast",
       os.path.join(root, "a", "clip.mp4"))
ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=5", "-frames:v", "12", "-q:v", "4",
       os.path.join(pool, "n%02d.jpg"))
# a large photo (noise compresses badly): a few MB, written slowly later
ffmpeg("-f", "lavfi", "-i", "nullsrc=size=1600x1200,geq=random(1)*255:128:128", "-frames:v", "1",
       os.path.join(pool, "big.png"))
EXCLUDE = "*.skip.jpg"
COMMON = ["--store", store, "--model", MODEL, "--exclude", EXCLUDE]
ROOTS = [root]


def dump(st):
    db = sqlite3.connect("file:%s/catalog.db?mode=ro" % st, uri=True, timeout=10)
    try:
        vf, dim = db.execute("SELECT vec_file, dim FROM models").fetchone()
        media = sorted(db.execute("SELECT path, size, mtime_ns, hash, kind, duration_ms, width, height, status, "
                                  "n_items FROM media"))
        rows = list(db.execute("SELECT m.path, i.frame_index, i.time_ms, i.vec_row FROM items i "
                               "JOIN media m ON m.id = i.media_id"))
    finally:
        db.close()
    raw = np.fromfile(os.path.join(st, vf), dtype=np.uint8)[64:]
    raw = raw[:len(raw) // (dim * 4) * dim * 4].reshape(-1, dim * 4)
    items = {(p, fi, t): raw[vr].tobytes() for p, fi, t, vr in rows}
    return {"media": media, "items": items}


def try_dump(st):
    try:
        return dump(st)
    except Exception:
        return None


def fresh():
    f = store + "-fresh"
    shutil.rmtree(f, ignore_errors=True)
    r = subprocess.run([BIN, "index", *ROOTS, "--store", f, "--model", MODEL, "--exclude", EXCLUDE, "--quiet"],
                       capture_output=True, text=True)
    if r.returncode not in (0, 6):
        print(r.stderr)
        raise SystemExit("fresh index failed: %d" % r.returncode)
    d = dump(f)
    shutil.rmtree(f)
    return d


STARTED = []


@atexit.register
def cleanup():  # a failed check or an exception leaves no watcher and no mount behind
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()
    if os.path.ismount(os.path.join(w, "drive")):
        subprocess.run(["umount", os.path.join(w, "drive")])


class Watcher:
    def __init__(self, *extra):
        self.err = open(os.path.join(w, "watch-%d.err" % int(time.time() * 1000)), "w+")
        self.p = subprocess.Popen([BIN, "index", *ROOTS, *COMMON, "--watch", "--debounce", str(DEBOUNCE_MS),
                                   "--json", "--progress", "lines", *extra],
                                  stdout=subprocess.PIPE, stderr=self.err, text=True)
        STARTED.append(self.p)
        self.passes = []  # (arrival time, summary)
        self.since = time.time()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            line = line.strip()
            if line.startswith("{"):
                self.passes.append((time.time(), json.loads(line)))

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def idle(self, quiet=1.0, timeout=20):
        """Waits until no pass arrived for `quiet` seconds."""
        end = time.time() + timeout
        while time.time() < end:
            last = self.passes[-1][0] if self.passes else 0
            if time.time() - max(last, self.since) >= quiet:
                return True
            time.sleep(0.1)
        return False

    def mark(self):
        self.since = time.time()
        return len(self.passes)

    def since_mark(self, n):
        return [s for _, s in self.passes[n:]]

    def stop(self, sig=signal.SIGINT, timeout=20):
        self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.t.join(5)
        return rc


def settle(wt, what, timeout=20):
    """The store ends equal to a fresh index of the folder as it is now."""
    want = fresh()
    end = time.time() + timeout
    got = None
    while time.time() < end:
        got = try_dump(store)
        if got == want:
            break
        time.sleep(0.2)
    ok = got == want
    if not ok and got:
        gp, wp = {m[0] for m in got["media"]}, {m[0] for m in want["media"]}
        print("  only in the watched store:", sorted(gp - wp), "\n  only in a fresh index:", sorted(wp - gp))
        print("  differing rows:", sorted(set(got["media"]) ^ set(want["media"]))[:6])
    check(ok, "%s: the store equals a fresh index (%d files, %d vectors)" %
          (what, len(want["media"]), len(want["items"])))
    if wt:
        wt.idle()
    return ok


def frames(summaries):
    return sum(s["frames"] for s in summaries)


def A(*p):
    return os.path.join(root, *p)


# ---- 1. first pass, then adds, a rewrite, a delete -------------------------------------------
wt = Watcher()
wt.mark()
settle(wt, "first pass")
err = wt.stderr()
check("with inotify" in err, "says it watches with inotify (%r)" % err.splitlines()[:1])
n = wt.mark()
shutil.copy(os.path.join(pool, "n01.jpg"), A("a", "added.jpg"))
shutil.copy(os.path.join(pool, "n02.jpg"), A("b", "deep", "added2.jpg"))
with open(os.path.join(pool, "n03.jpg"), "rb") as f, open(A("a", "p02.jpg"), "wb") as g:  # rewritten in place
    g.write(f.read())
os.remove(A("b", "q01.png"))
settle(wt, "added, rewritten, deleted")
ss = wt.since_mark(n)
check(len(ss) >= 1 and sum(s["files_removed"] for s in ss) == 1, "one file removed (%s)" %
      [s["files_removed"] for s in ss])
check(frames(ss) == 3, "3 frames encoded for 2 new and 1 rewritten photo (%d)" % frames(ss))
r = subprocess.run([BIN, "search", "--store", store, "--model", MODEL, "--image", A("a", "added.jpg"), "-k", "1",
                    "--no-cutoff", "--paths"], capture_output=True, text=True)
check(r.returncode == 0 and r.stdout.strip() == A("a", "added.jpg"),
      "search sees the added file while watching (%r)" % r.stdout.strip())

# ---- 2. moves: a rename, a whole folder moved into a new folder -------------------------------
n = wt.mark()
os.rename(A("a", "p03.jpg"), A("a", "p03-renamed.jpg"))
os.makedirs(A("c"))
os.rename(A("b"), A("c", "b-moved"))
settle(wt, "renamed file and moved folder")
ss = wt.since_mark(n)
reused = sum(s["files_reused"] for s in ss)
check(frames(ss) == 0, "moves encoded nothing (%d frames)" % frames(ss))
check(reused == 6, "6 files reused by content: 1 renamed + 5 in the moved folder (%d)" % reused)
# the moved folder is watched under its new path
n = wt.mark()
shutil.copy(os.path.join(pool, "n04.jpg"), A("c", "b-moved", "deep", "inside-moved.jpg"))
os.makedirs(A("c", "new", "deeper"))
shutil.copy(os.path.join(pool, "n05.jpg"), A("c", "new", "deeper", "in-new-folder.jpg"))
settle(wt, "files in the moved folder and in new nested folders")
check(frames(wt.since_mark(n)) == 2, "2 frames for 2 new files (%d)" % frames(wt.since_mark(n)))

# ---- 3. a large file written slowly is indexed once -------------------------------------------
n = wt.mark()
with open(os.path.join(pool, "big.png"), "rb") as f:
    data = f.read()
chunks = 10
with open(A("a", "big.png"), "wb") as g:
    for i in range(chunks):
        g.write(data[i * len(data) // chunks:(i + 1) * len(data) // chunks])
        g.flush()
        os.fsync(g.fileno())
        time.sleep(0.2)
settle(wt, "slow copy (%d bytes over %.1f s)" % (len(data), chunks * 0.2))
ss = wt.since_mark(n)
check(frames(ss) == 1 and sum(s["files_failed"] for s in ss) == 0,
      "the slowly written file was encoded once and never failed (%d frames in %d passes, failed %d)" %
      (frames(ss), len(ss), sum(s["files_failed"] for s in ss)))

# ---- 4. hidden and excluded files start no pass ------------------------------------------------
n = wt.mark()
os.makedirs(A(".hidden"))
shutil.copy(os.path.join(pool, "n06.jpg"), A(".hidden", "x.jpg"))
shutil.copy(os.path.join(pool, "n06.jpg"), A("a", ".dot.jpg"))
shutil.copy(os.path.join(pool, "n06.jpg"), A("a", "y.skip.jpg"))
time.sleep(DEBOUNCE_MS / 1000 + 1.5)
check(len(wt.since_mark(n)) == 0, "hidden and excluded files start no pass (%d passes)" % len(wt.since_mark(n)))
settle(None, "hidden and excluded files")

# ---- 5. SIGKILL in the middle, changes while nothing watches, restart ---------------------------
for i in range(7, 12):
    shutil.copy(os.path.join(pool, "n%02d.jpg" % i), A("a", "batch%02d.jpg" % i))
time.sleep(DEBOUNCE_MS / 1000 + 0.15)  # the batch is due about now
wt.p.send_signal(signal.SIGKILL)
wt.p.wait()
check(True, "killed with SIGKILL (after %d passes)" % len(wt.passes))
os.remove(A("a", "batch08.jpg"))
os.rename(A("a", "p04.jpg"), A("c", "p04-moved-offline.jpg"))
shutil.copy(os.path.join(pool, "n12.jpg"), A("a", "while-down.jpg"))
wt = Watcher()
wt.mark()
settle(wt, "restart after SIGKILL")
# SIGINT in the middle of a batch: exit 0, the store consistent
os.remove(A("a", "batch09.jpg"))
shutil.copy(os.path.join(pool, "n01.jpg"), A("c", "late.jpg"))
time.sleep(DEBOUNCE_MS / 1000 + 0.1)
t = time.time()
rc = wt.stop(signal.SIGINT)
check(rc == 0, "SIGINT (a batch due) exits 0 (%d) in %.1f s" % (rc, time.time() - t))
err = wt.stderr()
check("stopped watching" in err, "says it stopped")
wt = Watcher()
wt.mark()
settle(wt, "after SIGINT, restarted")
rc = wt.stop(signal.SIGTERM)
check(rc == 0, "SIGTERM while idle exits 0 (%d)" % rc)

# ---- 6. a root emptied (its drive unmounted) loses nothing -------------------------------------
before = dump(store)
wt = Watcher()
wt.mark()
wt.idle()
n = wt.mark()
away = os.path.join(w, "away")
os.makedirs(away)
for e in os.listdir(root):
    os.rename(A(e), os.path.join(away, e))
time.sleep(DEBOUNCE_MS / 1000 + 1.5)
wt.idle()
now = dump(store)
check(now["media"] == before["media"] and now["items"] == before["items"],
      "emptied root: nothing removed (%d files before, %d now)" % (len(before["media"]), len(now["media"])))
ss = wt.since_mark(n)
check(any(s["roots_unavailable"] for s in ss), "the pass says the root is unavailable (%s)" %
      [(s["roots_unavailable"], s["files_offline"]) for s in ss])
check("is unavailable" in wt.stderr() and "nothing under it is removed" in wt.stderr(), "and says so on stderr")
n = wt.mark()
for e in os.listdir(away):
    os.rename(os.path.join(away, e), A(e))
settle(wt, "root back")
ss = wt.since_mark(n)
check(frames(ss) == 0 and dump(store) == before, "the files back cost nothing (%d frames)" % frames(ss))
rc = wt.stop()
check(rc == 0, "SIGINT exits 0 (%d)" % rc)

# ---- 7. --poll 1 ------------------------------------------------------------------------------
wt = Watcher("--poll", "1")
wt.mark()
wt.idle()
check("polling every 1 s" in wt.stderr(), "--poll 1 says it polls (%r)" % wt.stderr().splitlines()[:1])
shutil.copy(os.path.join(pool, "n02.jpg"), A("c", "polled.jpg"))
os.remove(A("a", "p05.jpg"))
settle(wt, "--poll 1: added and deleted file", timeout=10)
rc = wt.stop()
check(rc == 0, "--poll: SIGINT exits 0 (%d)" % rc)

# ---- 8. a drive (tmpfs) unmounted and mounted again under a second root (needs root) ----------
mnt = os.path.join(w, "drive")
os.makedirs(mnt)
backup = os.path.join(w, "drive-backup")
os.makedirs(backup)
for i in (3, 4, 5):
    shutil.copy2(os.path.join(pool, "n%02d.jpg" % i), os.path.join(backup, "d%d.jpg" % i))


def mount():
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt], capture_output=True)
    if r.returncode == 0:
        for e in sorted(os.listdir(backup)):
            shutil.copy2(os.path.join(backup, e), os.path.join(mnt, e))
    return r.returncode == 0


if os.geteuid() == 0 and mount():
    ROOTS = [root, mnt]
    wt = Watcher()
    wt.mark()
    settle(wt, "a mounted drive as a second root")
    before = dump(store)
    n = wt.mark()
    subprocess.run(["umount", mnt], check=True)
    time.sleep(DEBOUNCE_MS / 1000 + 1.5)
    wt.idle()
    check(dump(store) == before, "drive unmounted: nothing removed")
    ss = wt.since_mark(n)
    check(any(s["roots_unavailable"] == 1 for s in ss) and "%s is unavailable" % mnt in wt.stderr(),
          "drive unmounted: a pass ran and says the drive is unavailable (%d passes)" % len(ss))
    n = wt.mark()
    check(mount(), "mounted again")
    time.sleep(DEBOUNCE_MS / 1000 + 1.0)
    wt.idle()
    shutil.copy(os.path.join(pool, "n06.jpg"), os.path.join(mnt, "after-remount.jpg"))
    settle(wt, "drive mounted again, a file added on it")
    ss = wt.since_mark(n)
    check(frames(ss) == 1, "only the new file was encoded after the remount (%d frames)" % frames(ss))
    rc = wt.stop()
    check(rc == 0, "SIGINT exits 0 (%d)" % rc)
    subprocess.run(["umount", mnt])
    ROOTS = [root]
else:
    print("skip: the unmount/remount check needs root and tmpfs mounts")

# ---- 9. the inotify watch limit reached: says so and polls ------------------------------------
os.environ["MEDIAGREP_TEST_MAX_WATCHES"] = "2"
wt = Watcher()
del os.environ["MEDIAGREP_TEST_MAX_WATCHES"]
wt.mark()
wt.idle()
err = wt.stderr()
check("watch limit is reached" in err and "polling every 30 s instead" in err,
      "watch limit (ENOSPC): says so and falls back to polling (%r)" % err.splitlines()[:1])
rc = wt.stop()
check(rc == 0, "SIGINT exits 0 (%d)" % rc)

# usage errors
r = subprocess.run([BIN, "index", root, *COMMON, "--poll", "1"], capture_output=True, text=True)
check(r.returncode == 2, "--poll without --watch is a usage error (%d)" % r.returncode)

shutil.rmtree(w)
print("%d failures, %.1f s" % (len(FAILS), time.time() - T0))
sys.exit(1 if FAILS else 0)
