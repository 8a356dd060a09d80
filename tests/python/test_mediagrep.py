"""test_mediagrep.py - the Python package (python/mediagrep) over
libmediagrep.so.1, checked against the CLI: search equals `mediagrep search
--json` for the same queries and options, embeddings equal `mediagrep embed
--json`, vectors() equals the store's vector file and what `embed` gives for
each photo, classify equals `mediagrep classify --json`; errors for bad
paths, bad queries and bad files; several threads; the library exports only
its API under its SONAME; and `pip install` of the package works offline.
"""
import json
import os
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

from conftest import BUILD, LIB, SRC, cli_json, run_cli

import mediagrep
from mediagrep import MediagrepError


def without_time(doc):
    doc = dict(doc)
    doc.pop("search_ms", None)
    return doc


# (CLI words, the same search as Python keywords)
SEARCHES = [
    (["a red car"], dict(query="a red car")),
    (["a red car", "--no-cutoff"], dict(query="a red car", cutoff=False)),
    (["test pattern", "-k", "2", "--no-cutoff"], dict(query="test pattern", k=2, cutoff=False)),
    (["bars", "--kind", "video", "--no-cutoff"], dict(query="bars", kind="video", cutoff=False)),
    (["bars", "--kind", "image", "--no-cutoff", "--larger-than", "10K"],
     dict(query="bars", kind="image", cutoff=False, larger_than="10K")),
    (["fractal", "--path", "*/photos/*", "--no-cutoff", "--exact"],
     dict(query="fractal", path="*/photos/*", cutoff=False, exact=True)),
    (["2:colour bars", "+", "fractal", "-", "a dog", "--no-cutoff"],
     dict(query=["2:colour bars", "+", "fractal", "-", "a dog"], cutoff=False)),
    (["bars", "--per-video", "3", "--no-cutoff", "--after", "2000-01-01"],
     dict(query="bars", per_video=3, cutoff=False, after="2000-01-01")),
    (["bars", "--no-cutoff", "--min-score", "-0.05"], dict(query="bars", cutoff=False, min_score=-0.05)),
]


@pytest.fixture(scope="module")
def store(world):
    with mediagrep.Store(world["store"]) as s:
        yield s


@pytest.mark.parametrize("cli,kw", SEARCHES)
def test_search_equals_cli(world, store, cli, kw):
    want = cli_json("search", *cli, "--store", world["store"], "--json")
    got = store.search(**kw)
    assert without_time(got.document) == without_time(want)
    assert list(got) == want["results"]
    assert got.no_good_match == want["no_good_match"]


def test_search_by_image_and_like(world, store):
    photo = world["photos"][0]
    want = cli_json("search", "--image", photo, "--store", world["store"], "--json", "--no-cutoff")
    got = store.search(image=photo, cutoff=False)
    assert without_time(got.document) == without_time(want)
    assert got[0]["path"] == photo  # the photo itself first
    want = cli_json("search", "--like", world["videos"][1], "--store", world["store"], "--json", "--no-cutoff")
    got = store.search(like=world["videos"][1], cutoff=False)
    assert without_time(got.document) == without_time(want)
    assert len(got) >= 1


def test_search_result_fields(store):
    res = store.search("bars", cutoff=False, k=10)
    assert len(res) == 5  # 3 photos + 2 videos
    for h in res:
        for key in ("rank", "media_id", "score", "relevance", "path", "kind", "width", "height", "size"):
            assert key in h, key
        assert os.path.isabs(h["path"])
    assert [h["rank"] for h in res] == list(range(1, 6))
    assert all(res[i]["score"] >= res[i + 1]["score"] for i in range(len(res) - 1))
    vids = [h for h in res if h["kind"] == "video"]
    assert vids and all("start_ms" in h and "end_ms" in h for h in vids)


def test_store_properties(world, store):
    assert store.random_weights is False  # the tiny model is a directory, not the fallback
    assert store.dim == 40
    assert mediagrep.version() == "0.1.0"
    assert os.path.samefile(mediagrep.library_path(), LIB)


def test_vectors_equal_store(world, store):
    lay = store.vector_layout()
    vec = store.vectors()
    assert isinstance(vec, np.memmap)
    assert vec.shape == (lay["rows"], store.dim)
    # independent read of the documented layout: raw little-endian rows after the header
    with open(lay["path"], "rb") as f:
        raw = f.read()
    assert len(raw) >= lay["offset"] + lay["rows"] * lay["row_bytes"]
    dt = np.dtype("<f2" if lay["dtype"] == "float16" else "<f4")
    assert lay["row_bytes"] == store.dim * dt.itemsize
    ref = np.frombuffer(raw, dtype=dt, count=lay["rows"] * store.dim, offset=lay["offset"]).reshape(lay["rows"], -1)
    assert np.array_equal(np.asarray(vec), ref)
    rows = store.rows()
    assert [r["row"] for r in rows] == sorted(r["row"] for r in rows)
    assert len(rows) == lay["rows"]  # nothing removed yet: every row is live
    norms = np.linalg.norm(np.asarray(vec, dtype=np.float32), axis=1)
    assert np.allclose(norms, 1.0, atol=2e-3)
    # each photo's stored row is what `embed --image` gives for it
    m = mediagrep.Model(world["model"])
    for r in rows:
        if r["kind"] == "image":
            e = m.embed_images([r["path"]])[0]
            assert np.allclose(np.asarray(vec[r["row"]], dtype=np.float32), e, atol=2e-3), r["path"]
    assert {r["path"] for r in rows} == set(world["photos"]) | set(world["videos"])
    vrows = [r for r in rows if r["path"] == world["videos"][0]]
    assert any(r["frame"] == -1 for r in vrows) and any(r["frame"] >= 0 for r in vrows)


def test_embed_equals_cli(world):
    texts = ["a red car", "ünïcode text", "x" * 500]
    m = mediagrep.Model(world["model"])
    assert m.random_weights is False
    out = run_cli("embed", "--model", world["model"], *sum((["--text", t] for t in texts), []),
                  *sum((["--image", p] for p in world["photos"]), []), "--json").stdout
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    want = np.array([x["embedding"] for x in lines], dtype=np.float32)
    got_t = m.embed_text(texts)
    got_i = m.embed_images(world["photos"])
    assert got_t.dtype == np.float32 and got_t.shape == (3, 40)
    # the CLI prints %.9g: float32 round-trips exactly
    assert np.array_equal(got_t, want[:3])
    assert np.array_equal(got_i, want[3:])
    assert np.array_equal(m.embed_text("a red car")[0], got_t[0])   # one string = a list of one
    assert m.embed_text([]).shape == (0, 40)


def test_embed_many_batches(world):
    m = mediagrep.Model(world["model"])
    texts = ["text %d" % i for i in range(70)]  # three batches of 32
    got = m.embed_text(texts)
    for i in (0, 31, 32, 69):
        assert np.array_equal(got[i], m.embed_text([texts[i]])[0])


def test_classify_equals_cli(world, store):
    want = cli_json("classify", "--labels", "bars,fractal,pattern", "--store", world["store"], "--json", "--scores")
    got = store.classify(["bars", "fractal", "pattern"], scores=True)
    want.pop("bins", None)
    assert got == want
    want = cli_json("classify", "--labels", "bars,fractal", "--template", "a picture of {}", "--kind", "image",
                    "--margin", "0.01", "--store", world["store"], "--json")
    want.pop("bins", None)
    got = store.classify(["bars", "fractal"], templates=["a picture of {}"], kind="image", margin=0.01)
    assert got == want
    assert sum(got["counts"].values()) == 3


def test_errors(world, tmp_path, store):
    with pytest.raises(MediagrepError) as e:
        mediagrep.Store(str(tmp_path / "nowhere"))
    assert e.value.code == mediagrep.ENOTFOUND and "nowhere" in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MediagrepError) as e:
        mediagrep.Store(str(empty))
    assert e.value.code == mediagrep.ENOTFOUND and "catalog.db" in str(e.value)
    assert not os.listdir(empty)  # opening never creates a store
    with pytest.raises(MediagrepError) as e:
        store.search("x", colour="red")
    assert e.value.code == mediagrep.EINVAL and "colour" in str(e.value)
    with pytest.raises(MediagrepError) as e:
        store.search("x", kind="sculpture")
    assert e.value.code == mediagrep.EINVAL and "sculpture" in str(e.value)
    with pytest.raises(MediagrepError) as e:
        store.search("x", larger_than="lots")
    assert e.value.code == mediagrep.EINVAL and "lots" in str(e.value)
    with pytest.raises(MediagrepError) as e:
        store.search("x", after="yesterday")
    assert e.value.code == mediagrep.EINVAL and "yesterday" in str(e.value)
    with pytest.raises(MediagrepError) as e:
        store.search()
    assert e.value.code == mediagrep.EINVAL
    with pytest.raises(MediagrepError) as e:
        store.search(image=str(tmp_path / "missing.jpg"))
    assert "missing.jpg" in str(e.value)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(MediagrepError) as e:
        store.search(image=str(bad))
    assert "bad.jpg" in str(e.value)
    with pytest.raises(MediagrepError) as e:
        store.search_json("{not json")
    assert e.value.code == mediagrep.EINVAL and "JSON" in str(e.value)
    with pytest.raises(MediagrepError) as e:
        store.classify([])
    assert e.value.code == mediagrep.EINVAL
    with pytest.raises(MediagrepError) as e:
        store.classify(["a", "A"])
    assert e.value.code == mediagrep.EINVAL
    with pytest.raises(TypeError):
        store.classify(["a"], hue=3)
    with pytest.raises(MediagrepError) as e:
        mediagrep.Model(str(tmp_path / "no-model"))
    assert "no-model" in str(e.value)
    m = mediagrep.Model(world["model"])
    with pytest.raises(MediagrepError) as e:
        m.embed_images([world["photos"][0], str(bad)])
    assert "bad.jpg" in str(e.value)
    with pytest.raises(MediagrepError) as e:
        m.embed_images([world["videos"][0]])
    assert "video" in str(e.value)
    # a wrong model for the store
    other = tmp_path / "models"
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "scripts", "gen_tiny_models.py"), "--out", str(other),
                    "--only", "tiny-p16-gelu"], check=True, capture_output=True)
    with pytest.raises(MediagrepError) as e:
        mediagrep.Store(world["store"], model=str(other / "tiny-p16-gelu"))
    assert e.value.code == mediagrep.EMISMATCH
    s = mediagrep.Store(world["store"])
    s.close()
    s.close()  # idempotent
    with pytest.raises(MediagrepError):
        s.search("x")
    # the store still works after all that
    assert len(store.search("bars", cutoff=False)) == 5


def test_threads(world):
    queries = ["bars", "fractal", "a red car", "pattern", "noise", "colour"]
    with mediagrep.Store(world["store"]) as s:
        serial = {q: without_time(s.search(q, cutoff=False).document) for q in queries}
        shared_out, own_out, errors = {}, {}, []

        def shared(q):  # one handle from several threads: serialised, still correct
            try:
                for _ in range(5):
                    shared_out[q] = without_time(s.search(q, cutoff=False).document)
            except Exception as e:  # pragma: no cover
                errors.append(e)

        def own(q):  # a handle per thread: parallel
            try:
                with mediagrep.Store(world["store"]) as mine:
                    for _ in range(5):
                        own_out[q] = without_time(mine.search(q, cutoff=False).document)
            except Exception as e:  # pragma: no cover
                errors.append(e)

        ts = [threading.Thread(target=f, args=(q,)) for q in queries for f in (shared, own)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors
        assert shared_out == serial and own_out == serial


def test_without_numpy(world):
    code = r"""
import sys
sys.modules["numpy"] = None          # numpy cannot be imported
import mediagrep
s = mediagrep.Store(sys.argv[1])
v = s.vectors()
assert isinstance(v, memoryview) and v.shape[1] == 40, v
rows = s.rows()
assert v.shape[0] == len(rows)
m = mediagrep.Model(sys.argv[2])
e = m.embed_text(["a red car"])
assert isinstance(e, list) and len(e[0]) == 40
print(repr(float(v[0, 0])), repr(e[0][0]))
"""
    env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "python"))
    p = subprocess.run([sys.executable, "-c", code, world["store"], world["model"]], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr
    v00, e0 = map(float, p.stdout.split())
    with mediagrep.Store(world["store"]) as s:
        assert v00 == float(s.vectors()[0, 0])
    assert e0 == float(mediagrep.Model(world["model"]).embed_text(["a red car"])[0][0])


def test_library_finding(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "python"))
    code = "import mediagrep; print(mediagrep.library_path())"
    env.pop("MEDIAGREP_LIB")
    # the checkout's build/ is found without $MEDIAGREP_LIB when the build folder is SRC/build
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if os.path.realpath(BUILD) == os.path.realpath(os.path.join(SRC, "build")):
        assert p.returncode == 0 and os.path.samefile(p.stdout.strip(), LIB), p.stderr
    env["MEDIAGREP_LIB"] = str(tmp_path / "libnothere.so")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode != 0 and "libnothere.so" in p.stderr and "MediagrepError" in p.stderr


def test_exports_only_the_api():
    soname = subprocess.run(["readelf", "-d", LIB], capture_output=True, text=True, check=True).stdout
    assert "Library soname: [libmediagrep.so.1]" in soname
    syms = subprocess.run(["nm", "-D", "--defined-only", LIB], capture_output=True, text=True, check=True).stdout
    names = [l.split()[-1].split("@")[0] for l in syms.splitlines() if l.strip()]
    names = [n for n in names if n != "MEDIAGREP_1"]
    assert len(names) >= 20
    assert all(n.startswith("mediagrep_") for n in names), [n for n in names if not n.startswith("mediagrep_")]
    header = open(os.path.join(SRC, "include", "mediagrep.h")).read()
    for n in names:
        assert n + "(" in header, n  # every export is declared in the public header
    versioned = subprocess.run(["objdump", "-T", LIB], capture_output=True, text=True, check=True).stdout
    assert all("MEDIAGREP_1" in l for l in versioned.splitlines() if " mediagrep_" in l and "DF .text" in l)


def test_pip_install(tmp_path, world):
    target = tmp_path / "site"
    # from a copy: setuptools writes build/ and *.egg-info beside pyproject.toml
    import shutil
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.join(SRC, "python"), pkg, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
                        "--target", str(target), str(pkg)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (target / "mediagrep" / "__init__.py").exists()
    env = dict(os.environ, PYTHONPATH=str(target))
    code = ("import mediagrep, sys; s = mediagrep.Store(sys.argv[1]); "
            "print(mediagrep.__file__); print(len(s.search('bars', cutoff=False)))")
    p = subprocess.run([sys.executable, "-c", code, world["store"]], capture_output=True, text=True, env=env,
                       cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    f, n = p.stdout.split()
    assert f.startswith(str(target)) and n == "5"


def test_relevance_does_not_depend_on_history(world):
    # a hit's relevance is the same whether or not the handle ran a cutoff search before
    with mediagrep.Store(world["store"]) as fresh:
        before = without_time(fresh.search("bars", cutoff=False).document)
    with mediagrep.Store(world["store"]) as s:
        s.search("a red car")                       # cutoff on: loads the neutral prompts
        after = without_time(s.search("bars", cutoff=False).document)
    assert before == after


def test_store_model(world):
    with mediagrep.Store(world["store"]) as s:
        m = s.model
        assert m is s.model and m.dim == s.dim and m.random_weights == s.random_weights
        own = mediagrep.Model(world["model"])
        assert np.array_equal(m.embed_text(["a red car", "bars"]), own.embed_text(["a red car", "bars"]))
        assert np.array_equal(m.embed_images(world["photos"][:1]), own.embed_images(world["photos"][:1]))
        m.close()  # a borrowed model: closing it does nothing
        assert m.embed_text(["bars"]).shape == (1, s.dim)
        assert len(s.search("bars", cutoff=False)) == 5
        m2 = s.model
    with pytest.raises(MediagrepError):
        m2.embed_text(["x"])  # the store is closed
