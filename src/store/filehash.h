/*
 * filehash.h - content hashes that tell whether a file changed when its size
 * or mtime did (incremental indexing), and model fingerprints.
 *
 * Files up to MG_HASH_FULL_MAX bytes are hashed whole with XXH3-128
 * ("x3:<32 hex>"). Larger files (long videos) are hashed from their size,
 * their first and last 4 MiB and 64 evenly spaced 1 MiB chunks
 * ("x3s:<32 hex>"), so a 20 GB video costs about 72 MiB of reads; an edit
 * that touches none of those chunks and keeps the size goes unnoticed, which
 * is why the hash is only consulted after size or mtime changed.
 *
 * Errors: MG_EIO naming the file. Threading: reentrant.
 */
#ifndef MG_FILEHASH_H
#define MG_FILEHASH_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

#define MG_HASH_FULL_MAX ((int64_t)256 << 20)
#define MG_HASH_STR 48

/* Hashes the file at path into out ("x3:..." or "x3s:...", NUL-terminated,
 * at most MG_HASH_STR bytes). *size_out (may be NULL) gets the size read. */
int mg_hash_file(const char *path, char out[MG_HASH_STR], int64_t *size_out, mg_error *err);

/* Hashes several files in sequence as one stream (model fingerprints); a
 * missing file is MG_ENOTFOUND. */
int mg_hash_files(const char *const *paths, int n, char out[MG_HASH_STR], mg_error *err);

#endif
