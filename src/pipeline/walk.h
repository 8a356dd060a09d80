/*
 * walk.h - the file walker behind `mediagrep index`: streams the media files
 * under a list of roots, depth-first, in a deterministic order, with their
 * kind sniffed from the bytes (never the extension).
 *
 * Order: roots in the order given; inside a directory, entries sorted by
 * name with strcmp (byte order), each subdirectory walked completely before
 * the next sibling. Two walks over an unchanged tree give the same sequence.
 * Streaming: one directory is read (and sorted) at a time, when it is
 * reached, and closed at once; memory is the names of the directories on the
 * current path (depth x width), plus two sets of 16-byte (st_dev, st_ino)
 * keys: every directory walked and every file yielded (so roughly 32 bytes
 * per yielded file, never the file names of the whole tree).
 *
 * Symbolic links (follow_symlinks = 1, the default) are followed, to files
 * and directories. A directory is walked at most once, whatever the number of
 * paths (links, overlapping roots, bind mounts) leading to it: a directory
 * that is one of its own ancestors on the current path is a loop, reported as
 * a problem; one already walked elsewhere is skipped silently (counted as a
 * duplicate). A file reached by several paths (hard links, links to one file)
 * is yielded once; the first path in walk order wins. With follow_symlinks =
 * 0, symbolic links below the roots are skipped (counted); roots themselves
 * are always resolved. Non-regular files (FIFOs, sockets, devices) are
 * skipped without being opened (sniffing opens with O_NONBLOCK and re-checks
 * the type, so a file swapped for a FIFO cannot block the walk either); one
 * given as a root is a problem.
 *
 * Hidden entries (a name starting with '.') below the roots are skipped,
 * files and directories alike, unless params.hidden; a root is never hidden.
 */
// Globs (mg_glob_match; params.include / params.exclude), in line comments
// because the examples hold comment delimiters:
//   - a pattern ending in '/' matches directories only (the '/' is dropped);
//   - a pattern with no (other) '/' matches the entry's base name:
//     `*.jpg`, `thumbs`, `IMG_[0-9]*`;
//   - a pattern with a '/' matches the path relative to the root the entry
//     was found under (a leading '/' is ignored: such patterns are anchored
//     at the root anyway), one component at a time: a component that is
//     exactly `**` matches zero or more whole components; any other component
//     is matched against one path component by fnmatch(3) with no flags (`*`,
//     `?`, `[...]`, backslash escapes; nothing crosses a '/'; `**` inside a
//     longer component acts as `*`). So `raw/**` matches `raw` itself and
//     everything below it, `**/thumbs/*` the files directly inside any
//     `thumbs` directory, `a/**/b` both `a/b` and `a/x/y/b`;
//   - matching is case-sensitive and a leading '.' is not special.
// exclude applies to files and directories (an excluded directory is pruned:
// not read at all); include applies to files only (directories are always
// entered unless excluded) and, when non-empty, keeps the files matching at
// least one pattern. A file given as a root is matched by its base name; a
// path that cannot be resolved (dangling link, link loop) is matched as a
// file, so an excluded or not-included name raises no problem.
/*
 * Kinds: the first MG_WALK_SNIFF_BYTES bytes are read. IMAGE when
 * mg_image_sniff (image.h) recognizes the format (PNG, JPEG, GIF, WebP, BMP,
 * TIFF, HEIF/HEIC, AVIF); VIDEO for containers FFmpeg reads: ISO-BMFF `ftyp`
 * not claimed as an image (except the audio-only brands M4A/M4B/M4P), QuickTime
 * (`moov`/`mdat`/`wide`/`free`/`skip`/`pnot` atom at offset 4), Matroska/WebM,
 * AVI, MPEG-PS and MPEG-1/2 video, MPEG-TS (188-byte packets) and M2TS
 * (192-byte), FLV, ASF/WMV, RealMedia, and Ogg (may hold only audio: a video
 * candidate, which the decoder settles); everything else, and every empty
 * file, is OTHER. With only_media = 1 (default) OTHER files are skipped and
 * counted; with 0 they are yielded so the caller can record them.
 *
 * Problems: nothing met on disk stops the walk. A missing root, an
 * unreadable directory or file, a dangling link, a symlink loop, a file that
 * vanished, a path too long, a directory beyond max_depth (reported, so a
 * depth guard never drops files silently): mg_walk_next
 * returns MG_WALK_PROBLEM, once per problem, with the path in entry->path and
 * the code plus "PATH: reason" in *problem; the caller records it and calls
 * again. Codes: MG_ENOTFOUND (missing root, dangling link, vanished file),
 * MG_ELIMIT (symlink loop, max_depth, path too long), MG_EIO (cannot open,
 * read or stat), MG_EUNSUPPORTED (a root that is a FIFO, socket or device).
 * Only a failed allocation is fatal (a negative return; every later
 * call returns it again).
 *
 * Ownership: mg_walk_open copies the roots and patterns (params need not
 * outlive it); entry->path points into the handle and stays valid until the
 * next mg_walk_next or mg_walk_close. Thread safety: one handle per thread;
 * mg_glob_match and mg_walk_sniff are reentrant.
 */
#ifndef MG_WALK_H
#define MG_WALK_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MG_WALK_OTHER = 0,    /* not a media file we read */
    MG_WALK_IMAGE = 1,
    MG_WALK_VIDEO = 2,
    MG_WALK_UNSNIFFED = 3, /* params.sniff == 0 */
    MG_WALK_AUDIO = 4      /* an audio file (WAV, FLAC, MP3, AAC/M4A, Ogg Vorbis/Opus, AIFF, AMR);
                              only with params.audio, else reported as OTHER */
} mg_walk_kind;

/* Positive results of mg_walk_next (errors are negative MG_E*). */
enum { MG_WALK_END = 1, MG_WALK_PROBLEM = 2 };

#define MG_WALK_SNIFF_BYTES 512
#define MG_WALK_DEFAULT_MAX_DEPTH 64

typedef struct mg_walk_params {
    int hidden;                 /* 0 (default): skip names starting with '.'; 1: include */
    int follow_symlinks;        /* 1 (default): follow links to files and directories */
    const char *const *include; /* NULL-terminated globs or NULL: keep files matching any */
    const char *const *exclude; /* NULL-terminated globs or NULL: skip files/prune dirs */
    int sniff;                  /* 1 (default): read the first bytes to classify */
    int only_media;             /* 1 (default): skip OTHER files (ignored when sniff = 0) */
    int audio;                  /* 0 (default): audio files count as OTHER; 1: yielded as AUDIO */
    int max_depth;              /* levels below a root: 1 = only the root's own
                                 * entries; 0 = unlimited; default 64 */
} mg_walk_params;

typedef struct mg_walk_entry {
    const char *path;  /* root joined with the names; valid until the next call */
    const char *rel;   /* the part of path below its root (a file root: its base name) */
    int64_t size;      /* bytes */
    int64_t mtime_ns;  /* st_mtim, nanoseconds since the epoch */
    uint64_t dev, ino; /* of the file (links resolved) */
    mg_walk_kind kind;
    int depth;         /* 0 for a file root, 1 for a root's own entries, ... */
} mg_walk_entry;

typedef struct mg_walk_stats {
    int64_t dirs;              /* directories read */
    int64_t entries;           /* names read from directories */
    int64_t files;             /* regular files reached (yielded or skipped after stat) */
    int64_t yielded;           /* files returned with MG_OK */
    int64_t skipped_hidden;    /* names skipped for a leading '.' */
    int64_t skipped_excluded;  /* files and directories excluded, files not included */
    int64_t skipped_not_media; /* OTHER files (only_media) */
    int64_t skipped_duplicate; /* files or directories already reached by another path */
    int64_t skipped_special;   /* FIFOs, sockets, devices */
    int64_t skipped_symlinks;  /* links not followed (follow_symlinks = 0) */
    int64_t problems;          /* MG_WALK_PROBLEM results */
} mg_walk_stats;

typedef struct mg_walk mg_walk;

mg_walk_params mg_walk_default_params(void);

/* Prepares a walk over roots[0..n_roots) (files or directories; trailing
 * slashes are dropped). Nothing is read yet. MG_EINVAL for bad arguments
 * (no roots, an empty root or pattern, max_depth < 0), MG_ENOMEM. */
int mg_walk_open(const char *const *roots, int n_roots, const mg_walk_params *p,
                 mg_walk **out, mg_error *err);

/* Next step of the walk:
 *   MG_OK            *e is the next file (image/video, or any kind if
 *                    only_media = 0 or sniff = 0); problem is cleared
 *   MG_WALK_PROBLEM  e->path is the path at fault (other fields zero);
 *                    *problem has its code and "PATH: reason"; call again
 *   MG_WALK_END      the walk is over (and stays over)
 *   < 0              fatal (MG_ENOMEM), message in *problem
 * problem may be NULL. */
int mg_walk_next(mg_walk *w, mg_walk_entry *e, mg_error *problem);

void mg_walk_get_stats(const mg_walk *w, mg_walk_stats *out);
void mg_walk_close(mg_walk *w); /* NULL is a no-op */

/* 1 if pattern matches rel (a path relative to a walk root, components
 * separated by '/'), is_dir telling whether rel is a directory; 0 if not.
 * Semantics at the top of this file. */
int mg_glob_match(const char *pattern, const char *rel, int is_dir);

/* 1 if a walk with params p (hidden, include, exclude) would consider the
 * file at rel (a path relative to its root; '/'-separated), 0 if one of its
 * folders or the file itself is hidden or excluded, or the file is not
 * included. The indexer asks this of files in the store that the walk did
 * not yield, to tell "excluded now" from "gone". */
int mg_walk_selects(const mg_walk_params *p, const char *rel);

/* Kind of a file from its first bytes (n may be below MG_WALK_SNIFF_BYTES
 * for a short file; n = 0 is OTHER). */
mg_walk_kind mg_walk_sniff(const uint8_t *buf, size_t n);
const char *mg_walk_kind_name(mg_walk_kind k); /* "image", "video", "audio", "other", "unsniffed" */

#ifdef __cplusplus
}
#endif
#endif
