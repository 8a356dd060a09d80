/*
 * vindex.cpp - the FAISS index shim (see vindex.h).
 *
 * Layout of a handle: `top` is the object faiss serializes: an IndexIDMap
 * around an IndexFlatIP or IndexHNSWFlat, or a bare IndexIVFPQ whose lists
 * hold the caller's ids. `inner` is the object searched. FAISS 1.7.3's
 * IndexIDMap::search rejects per-call SearchParameters, so searches go to
 * the inner index with their own parameters and the internal row numbers are
 * translated through id_map here; the filter selector translates the same
 * way before asking the caller.
 */
#include "store/vindex.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>
#include <omp.h>
#define XXH_INLINE_ALL /* header-only: no link dependency */
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <new>
#include <sys/stat.h>
#include <typeinfo>
#include <unistd.h>
#include <vector>

using idx_t = faiss::Index::idx_t;

struct mg_vindex {
    std::atomic<int> refs{1};       /* mg_vindex_ref / mg_vindex_close */
    mg_vindex_type type = MG_VINDEX_FLAT;
    int dim = 0;
    int n_threads = 0;
    faiss::Index *top = nullptr;           /* owned; what save writes */
    faiss::IndexIDMap *idmap = nullptr;   /* == top for FLAT and HNSW */
    faiss::Index *inner = nullptr;         /* the index searched */
    faiss::IndexHNSWFlat *hnsw = nullptr;  /* == inner for HNSW */
    faiss::IndexIVFPQ *ivf = nullptr;      /* == top == inner for IVFPQ */
    ~mg_vindex() { delete top; }
};

namespace {

/* Sets the calling thread's OpenMP thread count for one call. */
struct OmpThreads {
    int saved = 0;
    explicit OmpThreads(int n) {
        if (n > 0) {
            saved = omp_get_max_threads();
            omp_set_num_threads(n);
        }
    }
    ~OmpThreads() {
        if (saved > 0) omp_set_num_threads(saved);
    }
};

/* faiss messages start "Error in <signature> at <file>:<line>: "; keep what
 * follows, which is the part a user can act on. */
const char *faiss_msg(const char *what) {
    const char *at = strstr(what, " at ");
    const char *p = at ? strchr(at + 4, ':') : nullptr;
    if (!p) return what;
    p++;
    while (*p >= '0' && *p <= '9') p++;
    if (p[0] == ':' && p[1] == ' ') return p + 2;
    return what;
}

/* Runs f (returning an MG_* code), turning exceptions into codes. */
template <class F>
int guarded(mg_error *err, int code, const char *what, F &&f) {
    try {
        return f();
    } catch (const std::bad_alloc &) {
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", what);
    } catch (const std::exception &e) {
        return mg_err_set(err, code, "%s: faiss: %s", what, faiss_msg(e.what()));
    } catch (...) {
        return mg_err_set(err, code, "%s: unknown exception", what);
    }
}

/* Selector for filtered search: maps the inner index's row numbers to ids
 * (map == nullptr: the stored labels are the ids already). */
struct CallbackSelector final : faiss::IDSelector {
    int (*allow)(void *, int64_t);
    void *ctx;
    const idx_t *map;
    CallbackSelector(int (*a)(void *, int64_t), void *c, const idx_t *m) : allow(a), ctx(c), map(m) {}
    bool is_member(idx_t i) const override { return allow(ctx, map ? map[i] : i) != 0; }
};

uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Checks an (n x dim vectors, n ids) argument pair. */
int check_batch(int dim, const float *vecs, const int64_t *ids, int64_t n, const char *what, mg_error *err) {
    size_t bytes;
    if (n < 0) return mg_err_set(err, MG_EINVAL, "%s: n = %lld is negative", what, (long long)n);
    if (n > 0 && (!vecs || !ids)) return mg_err_set(err, MG_EINVAL, "%s: NULL vectors or ids", what);
    if (mg_mul_size((size_t)n, (size_t)dim * sizeof(float), &bytes))
        return mg_err_set(err, MG_ELIMIT, "%s: %lld x %d vectors overflow", what, (long long)n, dim);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] == -1) return mg_err_set(err, MG_EINVAL, "%s: id -1 (row %lld) is reserved", what, (long long)i);
    return MG_OK;
}

int largest_divisor_at_most(int dim, int cap) {
    for (int m = std::max(1, cap); m > 1; m--)
        if (dim % m == 0) return m;
    return 1;
}

} // namespace

/* The public functions have C linkage from their declarations in vindex.h. */

mg_vindex_params mg_vindex_default_params(void) {
    mg_vindex_params p;
    memset(&p, 0, sizeof p);
    p.type = MG_VINDEX_AUTO;
    p.hnsw_m = 32;
    p.ef_construction = 80;
    p.ef_search = 128;
    return p;
}

mg_vindex_type mg_vindex_choose(int64_t n, int dim) {
    if (dim <= 0) dim = 512;
    if (n < MG_VINDEX_FLAT_MAX_N) return MG_VINDEX_FLAT;
    if (n <= MG_VINDEX_HNSW_MAX_N && n <= MG_VINDEX_HNSW_MAX_FLOATS / dim) return MG_VINDEX_HNSW;
    return MG_VINDEX_IVFPQ;
}

const char *mg_vindex_type_name(mg_vindex_type t) {
    switch (t) {
    case MG_VINDEX_AUTO: return "auto";
    case MG_VINDEX_FLAT: return "flat";
    case MG_VINDEX_HNSW: return "hnsw";
    case MG_VINDEX_IVFPQ: return "ivfpq";
    }
    return "?";
}

int mg_vindex_type_parse(const char *s, mg_vindex_type *out) {
    static const mg_vindex_type all[] = {MG_VINDEX_AUTO, MG_VINDEX_FLAT, MG_VINDEX_HNSW, MG_VINDEX_IVFPQ};
    if (!s || !out) return MG_EINVAL;
    for (mg_vindex_type t : all)
        if (strcasecmp(s, mg_vindex_type_name(t)) == 0) {
            *out = t;
            return MG_OK;
        }
    return MG_EINVAL;
}

int mg_vindex_build(int dim, const mg_vindex_params *pin, const float *vecs, const int64_t *ids, int64_t n,
                    mg_vindex **out, mg_error *err) {
    if (!out) return mg_err_set(err, MG_EINVAL, "vindex build: NULL output");
    *out = nullptr;
    if (dim <= 0 || dim > MG_VINDEX_MAX_DIM)
        return mg_err_set(err, MG_EINVAL, "vindex build: dimension %d out of range 1..%d", dim, MG_VINDEX_MAX_DIM);
    int rc = check_batch(dim, vecs, ids, n, "vindex build", err);
    if (rc) return rc;
    mg_vindex_params d = mg_vindex_default_params(), p = pin ? *pin : d;
    if (p.hnsw_m == 0) p.hnsw_m = d.hnsw_m;
    if (p.ef_construction == 0) p.ef_construction = d.ef_construction;
    if (p.ef_search == 0) p.ef_search = d.ef_search;
    static_assert(sizeof(mg_vindex_type) == sizeof(int), "enum size");
    int ptype; /* read as int: a C caller may store any value in the enum */
    memcpy(&ptype, &p.type, sizeof ptype);
    if (ptype < MG_VINDEX_AUTO || ptype > MG_VINDEX_IVFPQ)
        return mg_err_set(err, MG_EINVAL, "vindex build: unknown index type %d", ptype);
    if (p.hnsw_m < 2 || p.hnsw_m > 256 || p.ef_construction < 1 || p.ef_search < 1 || p.ivf_nlist < 0 ||
        p.pq_m < 0 || p.nprobe < 0 || p.n_threads < 0)
        return mg_err_set(err, MG_EINVAL,
                          "vindex build: bad parameters (hnsw_m %d, ef_construction %d, ef_search %d, "
                          "nlist %d, pq_m %d, nprobe %d, n_threads %d)",
                          p.hnsw_m, p.ef_construction, p.ef_search, p.ivf_nlist, p.pq_m, p.nprobe, p.n_threads);
    mg_vindex_type type = p.type == MG_VINDEX_AUTO ? mg_vindex_choose(n, dim) : p.type;
    if (type == MG_VINDEX_IVFPQ && n < MG_VINDEX_IVFPQ_MIN_N) type = MG_VINDEX_FLAT; /* cannot train */

    int64_t nlist = 0, pq_m = 0, nprobe = 0;
    if (type == MG_VINDEX_IVFPQ) {
        nlist = p.ivf_nlist;
        if (nlist == 0) nlist = std::max<int64_t>(1, std::min<int64_t>((int64_t)(4.0 * std::sqrt((double)n)), n / 39));
        if (nlist > n)
            return mg_err_set(err, MG_EINVAL, "vindex build: nlist %lld exceeds the %lld vectors", (long long)nlist,
                              (long long)n);
        pq_m = p.pq_m ? p.pq_m : largest_divisor_at_most(dim, dim / 8);
        if (pq_m > dim || dim % pq_m != 0)
            return mg_err_set(err, MG_EINVAL, "vindex build: pq_m %lld does not divide dimension %d", (long long)pq_m,
                              dim);
        nprobe = p.nprobe ? p.nprobe : std::max<int64_t>(8, nlist / 16);
        nprobe = std::min(nprobe, nlist);
    }

    std::unique_ptr<mg_vindex> ix;
    try {
        ix.reset(new mg_vindex);
    } catch (const std::bad_alloc &) {
        return mg_err_set(err, MG_ENOMEM, "vindex build: out of memory");
    }
    ix->type = type;
    ix->dim = dim;
    ix->n_threads = p.n_threads;
    char what[96];
    snprintf(what, sizeof what, "vindex build (%s, %lld x %d)", mg_vindex_type_name(type), (long long)n, dim);
    rc = guarded(err, MG_EBACKEND, what, [&]() -> int {
        OmpThreads threads(p.n_threads);
        if (type == MG_VINDEX_IVFPQ) {
            std::unique_ptr<faiss::IndexFlatIP> q(new faiss::IndexFlatIP(dim));
            std::unique_ptr<faiss::IndexIVFPQ> ivf(
                new faiss::IndexIVFPQ(q.get(), dim, (size_t)nlist, (size_t)pq_m, 8, faiss::METRIC_INNER_PRODUCT));
            q.release();
            ivf->own_fields = true;
            ivf->cp.spherical = true; /* centroids of unit vectors, renormalized */
            ivf->nprobe = (size_t)nprobe;
            /* Deterministic sample: one vector from each of ns equal strata,
             * at a pseudo-random offset inside the stratum. */
            int64_t ns = std::min<int64_t>(n, 256 * nlist);
            const float *train = vecs;
            std::vector<float> sample;
            if (ns < n) {
                sample.resize((size_t)ns * dim);
                uint64_t seed = 0x6d67766978ULL;
                for (int64_t i = 0; i < ns; i++) {
                    int64_t lo = (int64_t)((__int128)i * n / ns), hi = (int64_t)((__int128)(i + 1) * n / ns);
                    int64_t r = lo + (int64_t)(splitmix64(&seed) % (uint64_t)(hi - lo));
                    memcpy(&sample[(size_t)i * dim], vecs + (size_t)r * dim, (size_t)dim * sizeof(float));
                }
                train = sample.data();
            }
            ivf->train(ns, train);
            std::vector<float>().swap(sample);
            ivf->add_with_ids(n, vecs, ids);
            ix->ivf = ivf.get();
            ix->inner = ix->top = ivf.release();
            return MG_OK;
        }
        std::unique_ptr<faiss::Index> sub;
        if (type == MG_VINDEX_HNSW) {
            auto *h = new faiss::IndexHNSWFlat(dim, p.hnsw_m, faiss::METRIC_INNER_PRODUCT);
            sub.reset(h);
            h->hnsw.efConstruction = p.ef_construction;
            h->hnsw.efSearch = p.ef_search;
            ix->hnsw = h;
        } else {
            sub.reset(new faiss::IndexFlatIP(dim));
        }
        ix->idmap = new faiss::IndexIDMap(sub.get());
        ix->top = ix->idmap; /* owned by ix from here on */
        ix->inner = sub.release();
        ix->idmap->own_fields = true;
        if (n > 0) ix->idmap->add_with_ids(n, vecs, ids);
        return MG_OK;
    });
    if (rc) return rc;
    *out = ix.release();
    return MG_OK;
}

int mg_vindex_add(mg_vindex *ix, const float *vecs, const int64_t *ids, int64_t n, mg_error *err) {
    if (!ix) return mg_err_set(err, MG_EINVAL, "vindex add: NULL index");
    int rc = check_batch(ix->dim, vecs, ids, n, "vindex add", err);
    if (rc || n == 0) return rc;
    return guarded(err, MG_EBACKEND, "vindex add", [&]() -> int {
        OmpThreads threads(ix->n_threads);
        ix->top->add_with_ids(n, vecs, ids);
        return MG_OK;
    });
}

int mg_vindex_remove(mg_vindex *ix, const int64_t *ids, int64_t n, int64_t *removed, mg_error *err) {
    if (removed) *removed = 0;
    if (!ix) return mg_err_set(err, MG_EINVAL, "vindex remove: NULL index");
    if (n < 0 || (n > 0 && !ids)) return mg_err_set(err, MG_EINVAL, "vindex remove: bad id array (n = %lld)", (long long)n);
    if (ix->type == MG_VINDEX_HNSW)
        return mg_err_set(err, MG_EUNSUPPORTED, "vindex remove: an HNSW index cannot remove vectors; rebuild it");
    if (n == 0) return MG_OK;
    return guarded(err, MG_EBACKEND, "vindex remove", [&]() -> int {
        OmpThreads threads(ix->n_threads);
        faiss::IDSelectorBatch sel((size_t)n, ids);
        size_t k = ix->top->remove_ids(sel);
        if (removed) *removed = (int64_t)k;
        return MG_OK;
    });
}

static int search_impl(const mg_vindex *ix, const float *q, int64_t nq, int k, int (*allow)(void *, int64_t),
                       void *ctx, float *scores, int64_t *ids, mg_error *err, int ef_search = 0, int nprobe = 0) {
    if (!ix) return mg_err_set(err, MG_EINVAL, "vindex search: NULL index");
    if (k <= 0) return mg_err_set(err, MG_EINVAL, "vindex search: k = %d must be positive", k);
    if (nq < 0) return mg_err_set(err, MG_EINVAL, "vindex search: nq = %lld is negative", (long long)nq);
    size_t cells, qbytes;
    if (mg_mul_size((size_t)nq, (size_t)k, &cells) || mg_mul_size(cells, sizeof(float) + sizeof(int64_t), &qbytes) ||
        mg_mul_size((size_t)nq, (size_t)ix->dim * sizeof(float), &qbytes))
        return mg_err_set(err, MG_ELIMIT, "vindex search: %lld queries x k %d overflow", (long long)nq, k);
    if (nq == 0) return MG_OK;
    if (!q || !scores || !ids) return mg_err_set(err, MG_EINVAL, "vindex search: NULL queries or outputs");
    if (ix->top->ntotal == 0) {
        for (size_t i = 0; i < cells; i++) {
            ids[i] = -1;
            scores[i] = -INFINITY;
        }
        return MG_OK;
    }
    const idx_t *map = ix->idmap ? ix->idmap->id_map.data() : nullptr;
    return guarded(err, MG_EBACKEND, "vindex search", [&]() -> int {
        OmpThreads threads(ix->n_threads);
        CallbackSelector sel(allow, ctx, map);
        faiss::IDSelector *s = allow ? &sel : nullptr;
        if (ix->type == MG_VINDEX_HNSW) {
            faiss::SearchParametersHNSW hp;
            hp.efSearch = std::max(ef_search > 0 ? ef_search : ix->hnsw->hnsw.efSearch, k);
            hp.sel = s;
            ix->inner->search(nq, q, k, scores, ids, &hp);
        } else if (ix->type == MG_VINDEX_IVFPQ) {
            faiss::SearchParametersIVF vp;
            vp.nprobe = std::min(std::max<size_t>(nprobe > 0 ? (size_t)nprobe : ix->ivf->nprobe, 1), ix->ivf->nlist);
            vp.sel = s;
            ix->inner->search(nq, q, k, scores, ids, &vp);
        } else {
            faiss::SearchParameters sp;
            sp.sel = s;
            ix->inner->search(nq, q, k, scores, ids, s ? &sp : nullptr);
        }
        for (size_t i = 0; i < cells; i++) {
            if (ids[i] < 0) {
                ids[i] = -1;
                scores[i] = -INFINITY;
            } else if (map) {
                ids[i] = map[ids[i]];
            }
        }
        return MG_OK;
    });
}

int mg_vindex_search(const mg_vindex *ix, const float *q, int64_t nq, int k, float *scores, int64_t *ids,
                     mg_error *err) {
    return search_impl(ix, q, nq, k, nullptr, nullptr, scores, ids, err);
}

int mg_vindex_search_filtered(const mg_vindex *ix, const float *q, int64_t nq, int k,
                              int (*allow)(void *ctx, int64_t id), void *ctx, float *scores, int64_t *ids,
                              mg_error *err) {
    if (!allow) return mg_err_set(err, MG_EINVAL, "vindex search: NULL filter");
    return search_impl(ix, q, nq, k, allow, ctx, scores, ids, err);
}

int mg_vindex_search_with(const mg_vindex *ix, const float *q, int64_t nq, int k, int ef_search, int nprobe,
                          float *scores, int64_t *ids, mg_error *err) {
    return search_impl(ix, q, nq, k, nullptr, nullptr, scores, ids, err, ef_search, nprobe);
}

mg_vindex *mg_vindex_ref(mg_vindex *ix) {
    if (ix) ix->refs.fetch_add(1);
    return ix;
}

void mg_vindex_set_search(mg_vindex *ix, int ef_search, int nprobe) {
    if (!ix) return;
    if (ix->hnsw && ef_search > 0) ix->hnsw->hnsw.efSearch = ef_search;
    if (ix->ivf && nprobe > 0) ix->ivf->nprobe = std::min<size_t>((size_t)nprobe, ix->ivf->nlist);
}

/* ---- files ----
 * The index file itself is exactly what faiss::write_index writes, so
 * faiss.read_index (Python, C++) and FAISS-based tools open it. Its checks
 * live in a 64-byte sidecar, <path>.sum (little-endian):
 *   0 char[8] "MGVIDX02"   8 u32 version (2)   12 u32 type (1..3)
 *  16 u32 dim   20 u32 sidecar size (64)   24 u64 vector count
 *  32 u64 index file bytes   40 u64 XXH3-64 of the index file
 *  48 u64 XXH3-64 of bytes 0..47 (the sidecar's own check)   56 zero
 * faiss's reader trusts its input (a bad count can index out of bounds while
 * it rebuilds tables), so the file's size and hash are verified against the
 * sidecar before faiss sees a byte. Version 1 (mediagrep before 0.2) put
 * this header in front of the faiss data in the same file; such files are
 * refused as MG_EFORMAT (the store rebuilds them). */

static const char MAGIC[8] = {'M', 'G', 'V', 'I', 'D', 'X', '0', '2'};
static const char MAGIC_V1[8] = {'M', 'G', 'V', 'I', 'D', 'X', '0', '1'};
enum { HDR = 64 };

template <class T> static void put(uint8_t *p, T v) { memcpy(p, &v, sizeof v); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

namespace {
/* Writes through stdio, hashing and counting the bytes. */
struct HashingWriter final : faiss::IOWriter {
    FILE *f;
    XXH3_state_t *st;
    uint64_t bytes = 0;
    HashingWriter(FILE *file, XXH3_state_t *state) : f(file), st(state) {}
    size_t operator()(const void *ptr, size_t size, size_t nitems) override {
        size_t got = size && nitems ? fwrite(ptr, size, nitems, f) : nitems;
        if (got && size) XXH3_64bits_update(st, ptr, got * size);
        bytes += got * size;
        return got;
    }
};
/* Reads at most `left` bytes through stdio (the verified file). */
struct BoundedReader final : faiss::IOReader {
    FILE *f;
    uint64_t left;
    BoundedReader(FILE *file, uint64_t n) : f(file), left(n) {}
    size_t operator()(void *ptr, size_t size, size_t nitems) override {
        if (size == 0 || nitems == 0) return nitems;
        size_t n = std::min<uint64_t>(nitems, left / size);
        size_t got = fread(ptr, size, n, f);
        left -= got * size;
        return got;
    }
};
} // namespace

/* Writes the faiss serialization of ix to tmp (fsynced); *bytes and *sum get
 * its size and XXH3-64. */
static int write_faiss_file(const mg_vindex *ix, const char *tmp, uint64_t *bytes, uint64_t *sum, mg_error *err) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) return mg_err_set(err, MG_ENOMEM, "vindex save: out of memory");
    XXH3_64bits_reset(st);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        XXH3_freeState(st);
        return mg_err_set(err, MG_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    HashingWriter w(f, st);
    int rc = guarded(err, MG_EIO, tmp, [&]() -> int {
        faiss::write_index(ix->top, &w); /* throws on a short write */
        return MG_OK;
    });
    if (rc == MG_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        rc = mg_err_set(err, MG_EIO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && rc == MG_OK) rc = mg_err_set(err, MG_EIO, "%s: close failed: %s", tmp, strerror(errno));
    *bytes = w.bytes;
    *sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return rc;
}

static int write_sidecar(const mg_vindex *ix, const char *tmp, uint64_t bytes, uint64_t sum, mg_error *err) {
    uint8_t h[HDR] = {0};
    memcpy(h, MAGIC, 8);
    put<uint32_t>(h + 8, 2), put<uint32_t>(h + 12, ix->type), put<uint32_t>(h + 16, ix->dim);
    put<uint32_t>(h + 20, HDR), put<uint64_t>(h + 24, ix->top->ntotal), put<uint64_t>(h + 32, bytes);
    put<uint64_t>(h + 40, sum), put<uint64_t>(h + 48, XXH3_64bits(h, 48));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return mg_err_set(err, MG_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int rc = write(fd, h, HDR) == HDR && fsync(fd) == 0
                 ? MG_OK
                 : mg_err_set(err, MG_EIO, "%s: write failed: %s", tmp, strerror(errno ? errno : EIO));
    if (close(fd) != 0 && rc == MG_OK) rc = mg_err_set(err, MG_EIO, "%s: close failed: %s", tmp, strerror(errno));
    return rc;
}

/* Order: both temporaries durable, then the index renamed, then its sidecar,
 * then the directory synced. A crash between the renames leaves a new index
 * with the old sidecar: it fails its check and is rebuilt, never trusted. */
static int save_files(const mg_vindex *ix, const char *path, int with_sidecar, mg_error *err) {
    if (!ix || !path || !*path) return mg_err_set(err, MG_EINVAL, "vindex save: NULL index or path");
    char tmp[4096], sum_path[4096], sum_tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp ||
        snprintf(sum_path, sizeof sum_path, "%s.sum", path) >= (int)sizeof sum_path ||
        snprintf(sum_tmp, sizeof sum_tmp, "%s.sum.tmp", path) >= (int)sizeof sum_tmp)
        return mg_err_set(err, MG_ELIMIT, "vindex save: path too long: %s", path);
    uint64_t bytes = 0, sum = 0;
    int rc = write_faiss_file(ix, tmp, &bytes, &sum, err);
    if (rc == MG_OK && with_sidecar) rc = write_sidecar(ix, sum_tmp, bytes, sum, err);
    if (rc == MG_OK && rename(tmp, path) != 0)
        rc = mg_err_set(err, MG_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (rc == MG_OK && with_sidecar && rename(sum_tmp, sum_path) != 0)
        rc = mg_err_set(err, MG_EIO, "%s: cannot rename to %s: %s", sum_tmp, sum_path, strerror(errno));
    if (rc) {
        unlink(tmp);
        if (with_sidecar) unlink(sum_tmp);
        return rc;
    }
    return mg_fsync_parent_dir(path, err);
}

int mg_vindex_save(const mg_vindex *ix, const char *path, mg_error *err) { return save_files(ix, path, 1, err); }

int mg_vindex_save_plain(const mg_vindex *ix, const char *path, mg_error *err) {
    return save_files(ix, path, 0, err);
}

/* Reads and checks the sidecar of path into h. */
static int read_sidecar(const char *path, uint8_t h[HDR], mg_error *err) {
    char sp[4096];
    if (snprintf(sp, sizeof sp, "%s.sum", path) >= (int)sizeof sp)
        return mg_err_set(err, MG_ELIMIT, "%s: path too long", path);
    int fd = open(sp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) return mg_err_set(err, MG_EIO, "%s: cannot open: %s", sp, strerror(errno));
        /* no sidecar: an index of the old single-file format, or not ours */
        uint8_t m[8] = {0};
        FILE *f = fopen(path, "rb");
        size_t got = f ? fread(m, 1, 8, f) : 0;
        if (f) fclose(f);
        if (got == 8 && memcmp(m, MAGIC_V1, 8) == 0)
            return mg_err_set(err, MG_EFORMAT, "%s: vector index in the old mediagrep format (the next index run "
                                               "rebuilds it as a plain FAISS file)", path);
        return mg_err_set(err, MG_EFORMAT, "%s: no checksum file %s: not a mediagrep vector index", path, sp);
    }
    struct stat sb;
    ssize_t got = fstat(fd, &sb) == 0 && sb.st_size == HDR ? read(fd, h, HDR) : -1;
    close(fd);
    if (got != HDR || memcmp(h, MAGIC, 8) != 0)
        return mg_err_set(err, MG_EFORMAT, "%s: not a mediagrep vector index checksum file", sp);
    if (get_u32(h + 8) != 2)
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: vector index version %u (this build reads 2)", sp, get_u32(h + 8));
    if (get_u32(h + 20) != HDR || get_u64(h + 48) != XXH3_64bits(h, 48))
        return mg_err_set(err, MG_EFORMAT, "%s: corrupt checksum file", sp);
    return MG_OK;
}

/* Checks the open index file (at offset 0) against its sidecar: size and
 * XXH3-64. Leaves f at offset 0. */
static int check_file(FILE *f, const char *path, uint64_t file_size, const uint8_t h[HDR], mg_error *err) {
    uint64_t len = get_u64(h + 32);
    if (len != file_size)
        return mg_err_set(err, MG_EFORMAT, "%s: truncated or padded (%llu bytes, its checksum file says %llu)", path,
                          (unsigned long long)file_size, (unsigned long long)len);
    static thread_local char buf[1 << 16];
    XXH3_state_t *st = XXH3_createState();
    if (!st) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    XXH3_64bits_reset(st);
    uint64_t left = len;
    while (left > 0) {
        size_t want = (size_t)std::min<uint64_t>(left, sizeof buf);
        if (fread(buf, 1, want, f) != want) {
            XXH3_freeState(st);
            return mg_err_set(err, MG_EIO, "%s: read failed: %s", path, ferror(f) ? strerror(errno) : "short read");
        }
        XXH3_64bits_update(st, buf, want);
        left -= want;
    }
    uint64_t sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    if (sum != get_u64(h + 40)) return mg_err_set(err, MG_EFORMAT, "%s: corrupt (checksum mismatch)", path);
    if (fseek(f, 0, SEEK_SET) != 0) return mg_err_set(err, MG_EIO, "%s: seek failed: %s", path, strerror(errno));
    return MG_OK;
}

/* Structural checks on a loaded index, so that a corrupt file that faiss
 * parsed cannot make a later search or add read out of bounds. Returns a
 * description of the first problem, or nullptr. */
static const char *check_flat(const faiss::Index *ix, int d) {
    auto *f = dynamic_cast<const faiss::IndexFlat *>(ix);
    if (!f || f->metric_type != faiss::METRIC_INNER_PRODUCT) return "flat storage is not inner product";
    if (f->d != d) return "storage dimension differs";
    if (f->code_size != (size_t)d * sizeof(float) || f->codes.size() != (size_t)f->ntotal * f->code_size)
        return "flat storage size does not match its count";
    return nullptr;
}

static const char *check_hnsw(const faiss::IndexHNSWFlat *h) {
    const faiss::HNSW &g = h->hnsw;
    size_t n = (size_t)h->ntotal;
    if (!h->storage || typeid(*h->storage) != typeid(faiss::IndexFlatIP) || h->storage->ntotal != h->ntotal)
        return "HNSW storage is not a flat inner-product index of the same size";
    if (const char *e = check_flat(h->storage, h->d)) return e;
    if (h->metric_type != faiss::METRIC_INNER_PRODUCT) return "HNSW metric is not inner product";
    if (g.levels.size() != n || g.offsets.size() != n + 1 || g.offsets[0] != 0 || g.efSearch < 1 ||
        g.efConstruction < 1)
        return "HNSW tables do not match the vector count";
    const std::vector<int> &cum = g.cum_nneighbor_per_level;
    if (cum.empty() || cum[0] != 0 || cum.size() != g.assign_probas.size() + 1) return "HNSW level table is invalid";
    for (size_t i = 1; i < cum.size(); i++)
        if (cum[i] < cum[i - 1]) return "HNSW level table is not increasing";
    if (n == 0) return g.entry_point == -1 ? nullptr : "empty HNSW has an entry point";
    if (g.entry_point < 0 || (size_t)g.entry_point >= n || g.max_level != g.levels[g.entry_point] - 1)
        return "HNSW entry point is invalid";
    for (size_t i = 0; i < n; i++) {
        int lv = g.levels[i];
        if (lv < 1 || (size_t)lv >= cum.size() || lv - 1 > g.max_level) return "HNSW node level out of range";
        if (g.offsets[i + 1] < g.offsets[i] || g.offsets[i + 1] - g.offsets[i] != (size_t)cum[lv])
            return "HNSW neighbour offsets are inconsistent";
    }
    if (g.offsets[n] != g.neighbors.size()) return "HNSW neighbour table size is inconsistent";
    for (size_t i = 0; i < n; i++)
        for (int l = 0; l < g.levels[i]; l++)
            for (size_t j = g.offsets[i] + cum[l]; j < g.offsets[i] + cum[l + 1]; j++) {
                int nb = g.neighbors[j];
                if (nb < -1 || nb >= (int64_t)n || (nb >= 0 && g.levels[nb] <= l))
                    return "HNSW link points outside the graph";
            }
    return nullptr;
}

static const char *check_ivfpq(const faiss::IndexIVFPQ *v) {
    if (typeid(*v) != typeid(faiss::IndexIVFPQ) || v->metric_type != faiss::METRIC_INNER_PRODUCT || !v->is_trained)
        return "not a trained inner-product IVF-PQ index";
    if (!v->quantizer || typeid(*v->quantizer) != typeid(faiss::IndexFlatIP) || v->quantizer->d != v->d ||
        (size_t)v->quantizer->ntotal != v->nlist || v->nlist == 0)
        return "IVF coarse quantizer does not match the list count";
    if (const char *e = check_flat(v->quantizer, v->d)) return e;
    const faiss::ProductQuantizer &pq = v->pq;
    if (pq.d != (size_t)v->d || pq.M == 0 || pq.dsub * pq.M != pq.d || pq.nbits != 8 || pq.ksub != 256 ||
        pq.code_size != pq.M || v->code_size != pq.code_size || pq.centroids.size() != pq.d * pq.ksub)
        return "product quantizer is inconsistent";
    if (v->direct_map.type != faiss::DirectMap::NoMap) return "unexpected direct map";
    auto *al = dynamic_cast<const faiss::ArrayInvertedLists *>(v->invlists);
    if (!al || typeid(*al) != typeid(faiss::ArrayInvertedLists) || al->nlist != v->nlist ||
        al->code_size != v->code_size || al->codes.size() != v->nlist || al->ids.size() != v->nlist)
        return "inverted lists do not match the list count";
    size_t total = 0;
    for (size_t l = 0; l < v->nlist; l++) {
        if (al->codes[l].size() != al->ids[l].size() * v->code_size) return "inverted list sizes are inconsistent";
        total += al->ids[l].size();
    }
    if (total != (size_t)v->ntotal) return "inverted lists do not add up to the vector count";
    return nullptr;
}

static int load_once(const char *path, mg_vindex **out, mg_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return mg_err_set(err, MG_ENOTFOUND, "%s: no such index file", path);
        return mg_err_set(err, MG_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) return mg_err_set(err, MG_EIO, "%s: not a regular file", path);
    uint8_t h[HDR];
    int rc = read_sidecar(path, h, err);
    if (rc) return rc;
    FILE *f = fopen(path, "rb");
    if (!f) return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO, "%s: cannot open: %s", path, strerror(errno));
    /* the size of the file opened, which a writer's rename cannot change */
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return mg_err_set(err, MG_EIO, "%s: %s", path, strerror(errno));
    }
    rc = check_file(f, path, (uint64_t)st.st_size, h, err);
    std::unique_ptr<mg_vindex> ix;
    faiss::Index *raw = nullptr;
    if (rc == MG_OK)
        rc = guarded(err, MG_EFORMAT, path, [&]() -> int {
            ix.reset(new mg_vindex);
            BoundedReader r(f, get_u64(h + 32));
            raw = faiss::read_index(&r, faiss::IO_FLAG_SKIP_PRECOMPUTE_TABLE);
            return MG_OK;
        });
    fclose(f);
    if (rc) {
        delete raw;
        return rc;
    }
    ix->top = raw; /* owned from here on */
    const char *bad = nullptr;
    if (raw->d <= 0 || raw->d > MG_VINDEX_MAX_DIM || raw->ntotal < 0) {
        bad = "dimension or count out of range";
    } else if (typeid(*raw) == typeid(faiss::IndexIDMap)) {
        auto *m = static_cast<faiss::IndexIDMap *>(raw);
        ix->idmap = m;
        ix->inner = m->index;
        if (!m->index || m->index->d != m->d || m->index->ntotal != m->ntotal ||
            m->id_map.size() != (size_t)m->ntotal) {
            bad = "id map does not match its index";
        } else if (typeid(*m->index) == typeid(faiss::IndexFlatIP)) {
            ix->type = MG_VINDEX_FLAT;
            bad = check_flat(m->index, m->d);
        } else if (typeid(*m->index) == typeid(faiss::IndexHNSWFlat)) {
            ix->type = MG_VINDEX_HNSW;
            ix->hnsw = static_cast<faiss::IndexHNSWFlat *>(m->index);
            bad = check_hnsw(ix->hnsw);
        } else {
            bad = "id map holds an index type mediagrep does not write";
        }
    } else if (typeid(*raw) == typeid(faiss::IndexIVFPQ)) {
        ix->type = MG_VINDEX_IVFPQ;
        ix->inner = raw;
        ix->ivf = static_cast<faiss::IndexIVFPQ *>(raw);
        bad = check_ivfpq(ix->ivf);
    } else {
        bad = "a faiss index type mediagrep does not write";
    }
    if (!bad && (get_u32(h + 12) != (uint32_t)ix->type || get_u32(h + 16) != (uint32_t)raw->d ||
                 get_u64(h + 24) != (uint64_t)raw->ntotal))
        bad = "checksum file does not match the index";
    if (bad) return mg_err_set(err, MG_EFORMAT, "%s: not a usable mediagrep index: %s", path, bad);
    ix->dim = raw->d;
    *out = ix.release();
    return MG_OK;
}

/* Identity of the index file and its sidecar, to tell a damaged pair from
 * one a writer replaced while we read it. */
static void pair_stamp(const char *path, struct stat s[2]) {
    char sp[4096];
    snprintf(sp, sizeof sp, "%s.sum", path);
    memset(s, 0, 2 * sizeof *s);
    if (stat(path, &s[0]) != 0) memset(&s[0], 0, sizeof s[0]);
    if (stat(sp, &s[1]) != 0) memset(&s[1], 0, sizeof s[1]);
}

static bool same_stamp(const struct stat a[2], const struct stat b[2]) {
    for (int i = 0; i < 2; i++)
        if (a[i].st_ino != b[i].st_ino || a[i].st_size != b[i].st_size ||
            a[i].st_mtim.tv_sec != b[i].st_mtim.tv_sec || a[i].st_mtim.tv_nsec != b[i].st_mtim.tv_nsec)
            return false;
    return true;
}

int mg_vindex_load(const char *path, mg_vindex **out, mg_error *err) {
    if (!out || !path) return mg_err_set(err, MG_EINVAL, "vindex load: NULL path or output");
    *out = nullptr;
    for (int attempt = 0;; attempt++) {
        struct stat before[2], after[2];
        pair_stamp(path, before);
        int rc = load_once(path, out, err);
        if (rc != MG_EFORMAT || attempt == 9) return rc;
        /* a save between our reads of the two files (a reader racing the
         * one writer) looks like a mismatch: read the new pair instead */
        pair_stamp(path, after);
        if (same_stamp(before, after)) {
            usleep(20000);
            pair_stamp(path, after);
            if (same_stamp(before, after)) return rc;
        }
    }
}

int mg_vindex_hnsw_neighbors(const mg_vindex *ix, int64_t first, int64_t n, int max_deg, int64_t *self_ids,
                             int64_t *nbr_ids, mg_error *err) {
    if (!ix || !ix->hnsw || !ix->idmap) return mg_err_set(err, MG_EUNSUPPORTED, "vindex: not an HNSW index");
    int64_t total = (int64_t)ix->idmap->ntotal;
    if (first < 0 || n < 0 || first + n > total || max_deg < 1 || (n > 0 && (!self_ids || !nbr_ids)))
        return mg_err_set(err, MG_EINVAL, "vindex hnsw neighbours: bad range %lld+%lld of %lld or degree %d",
                          (long long)first, (long long)n, (long long)total, max_deg);
    const faiss::HNSW &g = ix->hnsw->hnsw;
    const std::vector<idx_t> &map = ix->idmap->id_map;
    for (int64_t i = 0; i < n; i++) {
        size_t b, e;
        g.neighbor_range((idx_t)(first + i), 0, &b, &e);
        self_ids[i] = map[(size_t)(first + i)];
        int k = 0;
        for (size_t j = b; j < e && k < max_deg; j++) {
            faiss::HNSW::storage_idx_t v = g.neighbors[j];
            if (v < 0) break;
            if ((int64_t)v < total) nbr_ids[i * max_deg + k++] = map[(size_t)v];
        }
        for (; k < max_deg; k++) nbr_ids[i * max_deg + k] = -1;
    }
    return MG_OK;
}

int mg_vindex_hnsw_degree(const mg_vindex *ix) {
    if (!ix || !ix->hnsw) return 0;
    const faiss::HNSW &g = ix->hnsw->hnsw;
    return g.nb_neighbors(0);
}

int64_t mg_vindex_count(const mg_vindex *ix) { return ix ? (int64_t)ix->top->ntotal : 0; }
int mg_vindex_dim(const mg_vindex *ix) { return ix ? ix->dim : 0; }
mg_vindex_type mg_vindex_get_type(const mg_vindex *ix) { return ix ? ix->type : MG_VINDEX_AUTO; }

void mg_vindex_close(mg_vindex *ix) {
    if (ix && ix->refs.fetch_sub(1) == 1) delete ix;
}

