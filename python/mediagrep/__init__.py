"""mediagrep - search media collections indexed by `mediagrep index`, from Python.

A thin ctypes layer over libmediagrep.so.1 (include/mediagrep.h), standard
library only; numpy is used when it is installed (vectors as a memory map,
embeddings as arrays) and lists/memoryviews are returned without it.

    import mediagrep
    with mediagrep.Store("~/.local/share/mediagrep/store") as st:
        for hit in st.search("a dog on a beach", k=5, kind="image"):
            print(hit["score"], hit["path"])
        emb = st.vectors()          # numpy memmap, rows x dim, L2-normalised
        rows = st.rows()            # what each row is (path, frame, time_ms)
    m = mediagrep.Model()           # the default model (or a path to one)
    q = m.embed_text(["a red car"]) # 1 x dim float32

The library is found through $MEDIAGREP_LIB (a path to libmediagrep.so), else
in build/ beside this package's checkout (python/../build), else on the
system library path. Errors raise MediagrepError with the library's message.
Calls release the GIL; one handle serialises its calls, so give each thread
its own Store or Model to run searches in parallel.
"""
import ctypes
import ctypes.util
import datetime as _dt
import json
import os
import threading

__version__ = "0.1.0"
__all__ = ["Store", "Model", "SearchResults", "MediagrepError", "library_path", "version"]

try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised by the no-numpy test
    _np = None

# status codes of mediagrep.h
OK, EINVAL, ENOMEM, EIO, EFORMAT, EUNSUPPORTED, ELIMIT, ENOTFOUND = 0, -1, -2, -3, -4, -5, -6, -7
EBACKEND, EBUSY, EMISMATCH, EEMPTY = -11, -13, -14, -15
_CODE_NAMES = {EINVAL: "EINVAL", ENOMEM: "ENOMEM", EIO: "EIO", EFORMAT: "EFORMAT", EUNSUPPORTED: "EUNSUPPORTED",
               ELIMIT: "ELIMIT", ENOTFOUND: "ENOTFOUND", EBACKEND: "EBACKEND", EBUSY: "EBUSY",
               EMISMATCH: "EMISMATCH", EEMPTY: "EEMPTY"}


class MediagrepError(Exception):
    """A failed library call: .code is the library's status (negative), .message its text."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def code_name(self):
        return _CODE_NAMES.get(self.code, str(self.code))


class _Options(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("model", ctypes.c_char_p), ("threads", ctypes.c_int),
                ("device", ctypes.c_char_p), ("precision", ctypes.c_char_p), ("quiet", ctypes.c_int)]


class _Vectors(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("path", ctypes.c_char_p), ("offset", ctypes.c_int64),
                ("rows", ctypes.c_int64), ("dim", ctypes.c_int), ("dtype", ctypes.c_int),
                ("row_bytes", ctypes.c_int64)]


_lib = None
_lib_path = None
_lib_lock = threading.Lock()


def _candidates():
    env = os.environ.get("MEDIAGREP_LIB")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, "..", "..", "build", n) for n in ("libmediagrep.so.1", "libmediagrep.so")]
    out = [os.path.normpath(p) for p in out if os.path.exists(p)]
    out.append(ctypes.util.find_library("mediagrep") or "libmediagrep.so.1")
    return out, False


def _load():
    global _lib, _lib_path
    with _lib_lock:
        if _lib is not None:
            return _lib
        paths, from_env = _candidates()
        errors = []
        for p in paths:
            try:
                lib = ctypes.CDLL(p)
                break
            except OSError as e:
                errors.append("%s: %s" % (p, e))
        else:
            hint = "" if from_env else " (set MEDIAGREP_LIB to the path of libmediagrep.so, or build the checkout)"
            raise MediagrepError(ENOTFOUND, "libmediagrep could not be loaded%s: %s"
                                 % (" from $MEDIAGREP_LIB" if from_env else hint, "; ".join(errors)))
        _declare(lib)
        if lib.mediagrep_api_version() < 1:
            raise MediagrepError(EUNSUPPORTED, "%s: API version %d is too old" % (p, lib.mediagrep_api_version()))
        _lib, _lib_path = lib, p
        return lib


def _declare(lib):
    c_int, c_char_p, c_void_p, vp = ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p
    pp = ctypes.POINTER(ctypes.c_void_p)
    sig = {
        "mediagrep_version": (c_char_p, []),
        "mediagrep_api_version": (c_int, []),
        "mediagrep_last_error": (c_char_p, []),
        "mediagrep_free": (None, [c_void_p]),
        "mediagrep_options_init": (None, [ctypes.POINTER(_Options)]),
        "mediagrep_store_open": (c_int, [c_char_p, ctypes.POINTER(_Options), pp]),
        "mediagrep_store_close": (None, [vp]),
        "mediagrep_store_random_weights": (c_int, [vp]),
        "mediagrep_store_model": (c_void_p, [vp]),
        "mediagrep_store_dim": (c_int, [vp]),
        "mediagrep_search_json": (c_int, [vp, c_char_p, pp]),
        "mediagrep_classify_json": (c_int, [vp, c_char_p, pp]),
        "mediagrep_store_vectors": (c_int, [vp, ctypes.POINTER(_Vectors)]),
        "mediagrep_store_rows_json": (c_int, [vp, pp]),
        "mediagrep_model_open": (c_int, [ctypes.POINTER(_Options), pp]),
        "mediagrep_model_close": (None, [vp]),
        "mediagrep_model_dim": (c_int, [vp]),
        "mediagrep_model_random_weights": (c_int, [vp]),
        "mediagrep_embed_texts": (c_int, [vp, ctypes.POINTER(c_char_p), c_int, ctypes.c_void_p, ctypes.c_size_t]),
        "mediagrep_embed_images": (c_int, [vp, ctypes.POINTER(c_char_p), c_int, ctypes.c_void_p, ctypes.c_size_t]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args


def library_path():
    """The path libmediagrep was loaded from (loads it if needed)."""
    _load()
    return _lib_path


def version():
    """The library's version string."""
    return _load().mediagrep_version().decode()


def _check(rc):
    if rc != OK:
        msg = _lib.mediagrep_last_error().decode("utf-8", "replace")
        raise MediagrepError(rc, msg or "mediagrep call failed (%d)" % rc)


def _enc(s):
    if s is None:
        return None
    return os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode("utf-8")


def _take_string(p):
    """The JSON text the library returned through char**, freed."""
    try:
        return ctypes.string_at(p.value).decode("utf-8")
    finally:
        _lib.mediagrep_free(p)


def _options(model, threads, device, precision, quiet):
    o = _Options()
    _lib.mediagrep_options_init(ctypes.byref(o))
    o.model = _enc(os.path.expanduser(os.fspath(model)) if model is not None else None)
    o.threads = int(threads or 0)
    o.device = _enc(device)
    o.precision = _enc(precision)
    o.quiet = 1 if quiet else 0
    return o


def _date(v):
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.strftime("%Y-%m-%d")
    return v


class SearchResults(list):
    """The hits of one search (a list of dicts with `mediagrep search --json`'s
    fields) with the document's other fields as attributes: query (the parsed
    terms), no_good_match, dropped_by_cutoff, method, text_hits, speech_hits,
    search_ms; .document is the whole parsed JSON document."""

    def __init__(self, doc):
        super().__init__(doc.get("results", []))
        self.document = doc
        for k, v in doc.items():
            if k != "results":
                setattr(self, k, v)


class Store:
    """A store made by `mediagrep index`, opened read-only with its own model
    (or `model`, which must be the same model). Indexing may go on in other
    processes; each call sees their last commit.

    Store(path, model=None, threads=0, device=None, precision=None, quiet=True)
    """

    def __init__(self, path, model=None, threads=0, device=None, precision=None, quiet=True):
        lib = _load()
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self._h = None
        self._model = None
        o = _options(model, threads, device, precision, quiet)
        h = ctypes.c_void_p()
        _check(lib.mediagrep_store_open(_enc(self.path), ctypes.byref(o), ctypes.byref(h)))
        self._h = h

    def close(self):
        """Closes the store (later calls raise MediagrepError); idempotent."""
        if self._model is not None:
            self._model._h = None
            self._model._owner = None
            self._model = None
        if self._h is not None and _lib is not None:
            _lib.mediagrep_store_close(self._h)
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if self._h is None:
            raise MediagrepError(EINVAL, "%s: the store is closed" % self.path)
        return self._h

    @property
    def random_weights(self):
        """True when the store's model has random weights (results mean nothing)."""
        return bool(_lib.mediagrep_store_random_weights(self._handle()))

    @property
    def model(self):
        """The store's own model as a Model (embed_text / embed_images with the
        model the store's vectors came from, e.g. queries for FAISS). It
        belongs to the store and stops working when the store is closed."""
        if self._model is None:
            self._model = Model._borrowed(self, _lib.mediagrep_store_model(self._handle()))
        return self._model

    @property
    def dim(self):
        return _lib.mediagrep_store_dim(self._handle())

    def search_json(self, request):
        """Runs a request (a dict or JSON text, mediagrep.h's keys) and returns
        the parsed JSON document `mediagrep search --json` prints."""
        text = request if isinstance(request, str) else json.dumps(request)
        out = ctypes.c_void_p()
        _check(_lib.mediagrep_search_json(self._handle(), text.encode("utf-8"), ctypes.byref(out)))
        return json.loads(_take_string(out))

    def search(self, query=None, k=10, kind=None, cutoff=True, image=None, like=None, **options):
        """Searches the store like `mediagrep search`.

        query: text, or a list of the CLI's QUERY words ("2:golden retriever",
        "+", "pool.jpg", "-", "leash", "image:PATH", "like:PATH"); image /
        like: a path or paths added as --image / --like terms. Options are the
        CLI's, as keywords: per_video, path (a glob), min_score, larger_than
        ("500K" or bytes), smaller_than, after / before ("YYYY-MM-DD" or a
        date), only ("visual", "text", "speech"), visual_weight, text_weight,
        speech_weight, exact. Returns SearchResults: a list of dicts with
        `search --json`'s fields (path, score, relevance, kind, moments...).
        """
        req = {"k": k, "cutoff": bool(cutoff)}
        if query is not None:
            req["query"] = query if isinstance(query, str) else [os.fspath(w) for w in query]
        if image is not None:
            req["image"] = os.fspath(image) if isinstance(image, (str, os.PathLike)) else [os.fspath(p) for p in image]
        if like is not None:
            req["like"] = os.fspath(like) if isinstance(like, (str, os.PathLike)) else [os.fspath(p) for p in like]
        if kind is not None:
            req["kind"] = kind
        for key, v in options.items():
            if v is not None:
                req[key] = _date(v)
        return SearchResults(self.search_json(req))

    def classify(self, labels, templates=None, min_score=None, margin=None, kind=None, scores=False,
                 taken_after=None, taken_before=None, near=None, radius_km=None, camera=None, lens=None):
        """Zero-shot classification of the store's files into labels, as
        `mediagrep classify --json` (the parsed document: labels, templates,
        counts, excluded_no_capture, items with path, label, best_label,
        score, margin, capture...). The capture filters are search's:
        taken_after/taken_before ("YYYY-MM-DD"), near ("LAT,LON" or
        (lat, lon)) with radius_km (default 5), camera, lens."""
        if isinstance(labels, str):
            labels = [labels]
        req = {"labels": list(labels), "scores": bool(scores)}
        for key, v in (("templates", templates), ("min_score", min_score), ("margin", margin), ("kind", kind),
                       ("taken_after", taken_after), ("taken_before", taken_before), ("near", near),
                       ("radius_km", radius_km), ("camera", camera), ("lens", lens)):
            if v is not None:
                req[key] = list(v) if key in ("templates", "near") and not isinstance(v, str) else v
        out = ctypes.c_void_p()
        _check(_lib.mediagrep_classify_json(self._handle(), json.dumps(req).encode("utf-8"), ctypes.byref(out)))
        return json.loads(_take_string(out))

    def vector_layout(self):
        """The vector file's layout: dict(path, offset, rows, dim, dtype, row_bytes)."""
        v = _Vectors()
        v.size = ctypes.sizeof(_Vectors)
        _check(_lib.mediagrep_store_vectors(self._handle(), ctypes.byref(v)))
        return {"path": os.fsdecode(v.path), "offset": v.offset, "rows": v.rows, "dim": v.dim,
                "dtype": "float16" if v.dtype == 1 else "float32", "row_bytes": v.row_bytes}

    def vectors(self):
        """The store's embeddings, rows x dim, L2-normalised, read-only and
        memory-mapped (numpy.memmap; without numpy a memoryview of that shape
        over an mmap). Row r belongs to rows()'s entry with "row" == r; rows
        of removed items are stale and not listed there."""
        lay = self.vector_layout()
        shape = (lay["rows"], lay["dim"])
        if _np is not None:
            if lay["rows"] == 0:
                return _np.zeros((0, lay["dim"]), dtype=lay["dtype"])
            return _np.memmap(lay["path"], dtype=_np.dtype(lay["dtype"]).newbyteorder("<"), mode="r",
                              offset=lay["offset"], shape=shape)
        import mmap
        with open(lay["path"], "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        n = lay["rows"] * lay["row_bytes"]
        return memoryview(mm)[lay["offset"]:lay["offset"] + n].cast("e" if lay["dtype"] == "float16" else "f", shape)

    def rows(self):
        """What each live vector row holds, in row order: a list of dicts
        (row, item_id, media_id, path, kind, frame (-1: a video's pooled
        vector), time_ms)."""
        out = ctypes.c_void_p()
        _check(_lib.mediagrep_store_rows_json(self._handle(), ctypes.byref(out)))
        return json.loads(_take_string(out))


class Model:
    """A CLIP model: a directory in the Hugging Face layout or a pulled name;
    None: the default pulled model, else a random-weight model (random_weights
    is then True and embeddings mean nothing).

    Model(path=None, threads=0, device=None, precision=None, quiet=True)
    """

    def __init__(self, path=None, threads=0, device=None, precision=None, quiet=True):
        lib = _load()
        self._h = None
        self._owner = None
        o = _options(path, threads, device, precision, quiet)
        h = ctypes.c_void_p()
        _check(lib.mediagrep_model_open(ctypes.byref(o), ctypes.byref(h)))
        self._h = h
        self._owner = None

    @classmethod
    def _borrowed(cls, owner, handle):
        m = cls.__new__(cls)
        m._h = ctypes.c_void_p(handle)
        m._owner = owner  # keeps the store alive while the model is used
        return m

    def close(self):
        """Closes the model; idempotent. A store's model (Store.model) belongs
        to the store: closing it does nothing, closing the store ends it."""
        if self._owner is not None:
            return
        if self._h is not None and _lib is not None:
            _lib.mediagrep_model_close(self._h)
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if self._h is None:
            raise MediagrepError(EINVAL, "the model is closed")
        return self._h

    @property
    def dim(self):
        return _lib.mediagrep_model_dim(self._handle())

    @property
    def random_weights(self):
        return bool(_lib.mediagrep_model_random_weights(self._handle()))

    def _embed(self, fn, items):
        if isinstance(items, (str, bytes, os.PathLike)):
            items = [items]
        enc = [os.fsencode(x) if isinstance(x, os.PathLike) else (x if isinstance(x, bytes) else str(x).encode("utf-8"))
               for x in items]
        n, dim = len(enc), self.dim
        arr = (ctypes.c_char_p * max(n, 1))(*enc)
        if _np is not None:
            out = _np.zeros((n, dim), dtype=_np.float32)
            _check(fn(self._handle(), arr, n, out.ctypes.data_as(ctypes.c_void_p), out.size))
            return out
        buf = (ctypes.c_float * max(n * dim, 1))()
        _check(fn(self._handle(), arr, n, ctypes.cast(buf, ctypes.c_void_p), n * dim))
        flat = list(buf)
        return [flat[i * dim:(i + 1) * dim] for i in range(n)]

    def embed_text(self, texts):
        """L2-normalised text embeddings (n x dim float32; equal to `mediagrep embed --text`)."""
        return self._embed(_lib.mediagrep_embed_texts, texts)

    def embed_images(self, paths):
        """L2-normalised image embeddings (n x dim float32; equal to `mediagrep
        embed --image`). A file that does not decode raises MediagrepError naming it."""
        return self._embed(_lib.mediagrep_embed_images, paths)
