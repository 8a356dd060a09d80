/* fuzz_capture.c - libFuzzer target: any bytes as a file whose capture
 * metadata mediagrep reads (media/capture.h): as a bare EXIF/TIFF block,
 * as a JPEG/PNG/WebP stream walked to its EXIF, and, for TIFF and HEIF/
 * AVIF bytes, as a whole file through mg_capture_read (libtiff's and
 * libheif's directories; the bytes live in a memfd). Video containers are
 * left to libavformat (fuzzed upstream; its mov demuxer spends seconds and
 * GBs on some crafted 3 KB files, which would only time this target out):
 * the tag values it hands over go through the text parsers (EXIF and ISO
 * 8601 times, UTC offsets, ISO 6709 locations), which get the bytes as a
 * string. Whatever is read must be within the documented ranges, its
 * strings terminated, and its JSON form well formed. */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "media/capture.h"

static void check(const mg_capture *c) {
    if (c->has_gps && !(c->lat >= -90 && c->lat <= 90 && c->lon >= -180 && c->lon <= 180)) abort();
    if (c->has_alt && !isfinite(c->alt)) abort();
    if (c->has_tz && (c->tz_min < -840 || c->tz_min > 840)) abort();
    if (c->orientation < 0 || c->orientation > 8) abort();
    if (!memchr(c->make, 0, sizeof c->make) || !memchr(c->model, 0, sizeof c->model) ||
        !memchr(c->lens, 0, sizeof c->lens))
        abort();
    char buf[64];
    mg_capture_format_taken(c, buf, sizeof buf);
    json_object *o = mg_capture_to_json(c);
    if (!o) abort();
    const char *s = json_object_to_json_string(o);
    json_object *back = json_tokener_parse(s);
    if (!back) abort(); /* printable UTF-8 in, valid JSON out */
    json_object_put(back);
    json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_capture c;
    memset(&c, 0, sizeof c);
    mg_capture_from_exif(data, size, &c);
    check(&c);
    FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
    if (f) {
        if (size) {
            memset(&c, 0, sizeof c);
            mg_capture_from_stream(f, &c);
            check(&c);
        }
        fclose(f);
    }
    int tiff = size >= 4 && (!memcmp(data, "II*\0", 4) || !memcmp(data, "MM\0*", 4));
    int heif = size >= 12 && !memcmp(data + 4, "ftyp", 4) &&
               (!memcmp(data + 8, "heic", 4) || !memcmp(data + 8, "heix", 4) || !memcmp(data + 8, "mif1", 4) ||
                !memcmp(data + 8, "msf1", 4) || !memcmp(data + 8, "avif", 4) || !memcmp(data + 8, "avis", 4));
    int fd = tiff || heif ? memfd_create("fuzz_capture", MFD_CLOEXEC) : -1;
    if (fd >= 0) {
        if (write(fd, data, size) == (ssize_t)size) {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            mg_error err = {0};
            if (mg_capture_read(path, &c, &err) == MG_OK) check(&c);
            else if (!err.msg[0]) abort(); /* a failure names its reason */
        }
        close(fd);
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    int64_t secs;
    int has_tz = 0, tz = 0, has_alt = 0, off = 0;
    if (mg_capture_parse_time(s, &secs, &has_tz, &tz) == 0 && has_tz && (tz < -840 || tz > 840)) abort();
    double lat, lon, alt;
    if (mg_capture_parse_iso6709(s, &lat, &lon, &has_alt, &alt) == 0 &&
        !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180))
        abort();
    if (mg_capture_parse_offset(s, &off) == 0 && (off < -840 || off > 840)) abort();
    free(s);
    return 0;
}
