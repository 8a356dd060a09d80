/*
 * filehash.c - XXH3-128 content hashes of files (see filehash.h).
 */
#include "store/filehash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define CHUNK (1 << 20)

static void to_hex(XXH128_hash_t h, const char *prefix, char out[MG_HASH_STR]) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    int n = snprintf(out, MG_HASH_STR, "%s", prefix);
    for (int i = 0; i < 16; i++) n += snprintf(out + n, MG_HASH_STR - n, "%02x", c.digest[i]);
}

/* Feeds [off, off+len) of fd into the state. */
static int feed(XXH3_state_t *st, int fd, uint8_t *buf, int64_t off, int64_t len) {
    while (len > 0) {
        size_t want = len < CHUNK ? (size_t)len : CHUNK;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break; /* file shrank while reading: hash what is there */
        XXH3_128bits_update(st, buf, (size_t)r);
        off += r;
        len -= r;
    }
    return 0;
}

static int hash_fd(XXH3_state_t *st, int fd, uint8_t *buf, int64_t size, int sampled) {
    if (!sampled) return feed(st, fd, buf, 0, size);
    XXH3_128bits_update(st, &size, sizeof size);
    const int64_t edge = 4 * (int64_t)CHUNK, n_mid = 64;
    if (feed(st, fd, buf, 0, edge) || feed(st, fd, buf, size - edge, edge)) return -1;
    for (int64_t i = 0; i < n_mid; i++) {
        int64_t off = edge + (size - 2 * edge - CHUNK) * i / (n_mid - 1);
        if (feed(st, fd, buf, off, CHUNK)) return -1;
    }
    return 0;
}

int mg_hash_files(const char *const *paths, int n, char out[MG_HASH_STR], mg_error *err) {
    XXH3_state_t *st = XXH3_createState();
    uint8_t *buf = malloc(CHUNK);
    int rc = MG_OK;
    if (!st || !buf) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto done;
    }
    XXH3_128bits_reset(st);
    int sampled = 0;
    for (int i = 0; i < n && !rc; i++) {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        struct stat sb;
        if (fd < 0) {
            rc = mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO, "%s: %s", paths[i], strerror(errno));
            break;
        }
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            rc = mg_err_set(err, MG_EIO, "%s: not a regular file", paths[i]);
        } else {
            sampled = n == 1 && (int64_t)sb.st_size > MG_HASH_FULL_MAX;
            posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
            if (hash_fd(st, fd, buf, (int64_t)sb.st_size, sampled) != 0)
                rc = mg_err_set(err, MG_EIO, "%s: read: %s", paths[i], strerror(errno));
        }
        close(fd);
    }
    if (!rc) to_hex(XXH3_128bits_digest(st), sampled ? "x3s:" : "x3:", out);
done:
    XXH3_freeState(st);
    free(buf);
    return rc;
}

int mg_hash_file(const char *path, char out[MG_HASH_STR], int64_t *size_out, mg_error *err) {
    struct stat sb;
    if (size_out) *size_out = stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
    return mg_hash_files(&path, 1, out, err);
}
