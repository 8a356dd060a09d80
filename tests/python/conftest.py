"""conftest.py - the fixtures of the Python package's tests (ctest python_package).

One store for the whole session, made by the real CLI: `mediagrep index` of
two generated photos and two generated videos with the tiny test model
(scripts/gen_tiny_models.py, random weights in the Hugging Face layout),
into ./.mediagrep of a temporary folder, so the README's examples (which
use the default store) run there unchanged.

Environment: MG_BUILD_DIR (the build folder with mediagrep and
libmediagrep.so.1) and MG_SOURCE_DIR (the checkout), set by ctest.
"""
import json
import os
import subprocess
import sys

import pytest

BUILD = os.path.abspath(os.environ.get("MG_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")))
SRC = os.path.abspath(os.environ.get("MG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")))
MG = os.path.join(BUILD, "mediagrep")
LIB = os.path.join(BUILD, "libmediagrep.so.1")

os.environ["MEDIAGREP_LIB"] = LIB
sys.path.insert(0, os.path.join(SRC, "python"))


def run_cli(*args, cwd=None, ok=True):
    p = subprocess.run([MG, *args], capture_output=True, text=True, cwd=cwd)
    if ok and p.returncode != 0:
        raise AssertionError("mediagrep %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def cli_json(*args, cwd=None):
    """The JSON the CLI prints (exit 1 is `search`'s "no good match", as grep's)."""
    p = run_cli(*args, cwd=cwd, ok=False)
    if p.returncode not in (0, 1) or not p.stdout.strip():
        raise AssertionError("mediagrep %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return json.loads(p.stdout)


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """dict(root, store, model, photos, videos): the indexed collection."""
    root = tmp_path_factory.mktemp("mgpy")
    media = root / "media"
    (media / "photos").mkdir(parents=True)
    (media / "videos").mkdir(parents=True)
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "scripts", "gen_tiny_models.py"), "--out",
                    str(root / "models"), "--only", "tiny-p32"], check=True, capture_output=True)
    ff = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"]
    photos = [media / "photos" / "a.jpg", media / "photos" / "b ü.png", media / "photos" / "c.webp"]
    subprocess.run(ff + ["testsrc2=size=320x240", "-frames:v", "1", str(photos[0])], check=True)
    subprocess.run(ff + ["mandelbrot=size=200x150", "-frames:v", "1", str(photos[1])], check=True)
    subprocess.run(ff + ["smptebars=size=240x160", "-frames:v", "1", str(photos[2])], check=True)
    videos = [media / "videos" / "v.mp4", media / "videos" / "w.mp4"]
    subprocess.run(ff + ["testsrc2=size=160x120:rate=5", "-t", "3", "-c:v", "libx264", str(videos[0])], check=True)
    subprocess.run(ff + ["smptebars=size=160x120:rate=5", "-t", "2", "-c:v", "libx264", str(videos[1])], check=True)
    model = str(root / "models" / "tiny-p32")
    store = str(root / ".mediagrep")
    run_cli("index", "media", "--model", model, "--quiet", cwd=str(root))
    assert os.path.exists(os.path.join(store, "catalog.db"))
    return {"root": str(root), "store": store, "model": model, "photos": [str(p) for p in photos],
            "videos": [str(v) for v in videos]}
