/*
 * capture.h - what a file says about its own capture: the date and time it
 * was taken (with its UTC offset when recorded), where (GPS), and with what
 * camera and lens, read from photo EXIF (JPEG APP1, PNG eXIf, WebP EXIF,
 * TIFF's own directories, HEIF/AVIF Exif items) through libexif, libtiff
 * and libheif, and from video and audio container tags through FFmpeg
 * (creation_time, QuickTime/ISO 6709 location, make and model). Only
 * headers and metadata boxes are read, never pixels.
 *
 * Times: taken_local is the wall-clock time the file records, as seconds
 * since 1970-01-01 counted as if that clock were UTC (EXIF's
 * DateTimeOriginal, else DateTimeDigitized, else IFD0 DateTime; for videos
 * QuickTime's creationdate with its offset, else creation_time, which is
 * UTC). tz_min is the offset from UTC in minutes when the file records it
 * (EXIF OffsetTimeOriginal, a video's zone or "Z"); the instant is then
 * taken_local - tz_min * 60.
 *
 * Errors: mg_capture_read fails only when the file cannot be opened or
 * read (MG_EIO, naming it); a file without metadata, or with damaged
 * metadata, gives MG_OK and an empty mg_capture (fields it could not trust
 * are left unset). Threading: functions are reentrant.
 */
#ifndef MG_CAPTURE_H
#define MG_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "core/common.h"

/* Bumped when the reader learns new fields: stores re-read older rows. */
#define MG_CAPTURE_VERSION 1

typedef struct mg_capture {
    int has_taken;
    int64_t taken_local;    /* wall-clock seconds since 1970 as if UTC (see above) */
    int has_tz;
    int tz_min;             /* UTC offset, minutes (-840..840) */
    int has_gps;
    double lat, lon;        /* degrees, WGS 84; south and west negative */
    int has_alt;
    double alt;             /* metres above sea level */
    char make[64], model[96], lens[128];  /* "" when absent; trimmed, printable UTF-8 */
    int orientation;        /* EXIF orientation 1-8, 0 when absent */
    const char *source;     /* "exif", "tiff", "quicktime", "container", or "" */
} mg_capture;

/* Reads path's capture metadata into *out (always cleared first). The
 * container is told by the file's bytes, not its extension. */
int mg_capture_read(const char *path, mg_capture *out, mg_error *err);

/* Parsers over bytes already in memory (used by mg_capture_read; exposed
 * for the fuzzers and tests). data may be untrusted: every offset and size
 * is checked. */
void mg_capture_from_exif(const uint8_t *data, size_t len, mg_capture *out); /* "Exif\0\0"+TIFF or bare TIFF */
/* Walks a JPEG, PNG or WebP stream to its EXIF block and parses it;
 * returns 1 when the stream is one of those formats, 0 otherwise. */
int mg_capture_from_stream(FILE *f, mg_capture *out);
/* "2021:07:04 18:30:05" (EXIF) or "2021-07-04T18:30:05[.fff][Z|+hh[:]mm]"
 * (ISO 8601): seconds as if UTC; tz_min and has_tz from the suffix. 0 on
 * success, -1 when it is not a valid date and time. */
int mg_capture_parse_time(const char *s, int64_t *secs, int *has_tz, int *tz_min);
/* ISO 6709 ("+48.8566+002.3522+035.2/", also ±DDMM.M and ±DDMMSS.S
 * forms): 0 on success with alt set when present (*has_alt). */
int mg_capture_parse_iso6709(const char *s, double *lat, double *lon, int *has_alt, double *alt);
/* "+02:00", "-0530", "Z": minutes, or -1 when invalid (*out unchanged). */
int mg_capture_parse_offset(const char *s, int *out);

/* "2021-07-04 18:30:05" (+ "+02:00" when tz is known) into buf. */
void mg_capture_format_taken(const mg_capture *c, char *buf, size_t cap);

/* The fields that are set, as a new JSON object (caller puts it): taken,
 * latitude, longitude, altitude, make, model, lens, orientation. */
struct json_object;
struct json_object *mg_capture_to_json(const mg_capture *c);
#endif
