/*
 * capture.c - capture metadata (capture.h): EXIF through libexif (JPEG,
 * PNG, WebP and HEIF/AVIF Exif blocks found by walking the container),
 * TIFF's directories through libtiff, and container tags of videos and
 * audio through libavformat. Walkers read only headers and chunk tables,
 * each step bounded, so a damaged or hostile file costs a few reads.
 */
#include "media/capture.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <libavformat/avformat.h>
#include <libexif/exif-data.h>
#include <libheif/heif.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tiffio.h>
#include <time.h>

#define MAX_EXIF_BYTES (4u << 20)   /* a larger EXIF block is not metadata we want */
#define MAX_CHUNKS 100000           /* PNG/WebP chunks walked before giving up */

/* ---- small parsers ---- */

static int digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int mg_capture_parse_offset(const char *s, int *out) {
    if (!s) return -1;
    while (*s == ' ') s++;
    if (*s == 'Z' && (!s[1] || s[1] == ' ')) {
        *out = 0;
        return 0;
    }
    if (*s != '+' && *s != '-') return -1;
    int sign = *s == '-' ? -1 : 1, h, m = 0;
    s++;
    if (digits(s, 2, &h)) return -1;
    s += 2;
    if (*s == ':') s++;
    if (*s && digits(s, 2, &m)) return -1;
    if (h > 14 || m > 59) return -1;
    *out = sign * (h * 60 + m);
    return 0;
}

static int64_t days_from_civil(int y, int m, int d) { /* H. Hinnant's algorithm */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ((y % 4 == 0 && y % 100) || y % 400 == 0) ? 29 : dm[m - 1];
}

int mg_capture_parse_time(const char *s, int64_t *secs, int *has_tz, int *tz_min) {
    if (!s) return -1;
    while (*s == ' ') s++;
    int Y, M, D, h = 0, mi = 0, se = 0;
    if (digits(s, 4, &Y) || (s[4] != ':' && s[4] != '-') || digits(s + 5, 2, &M) || s[7] != s[4] ||
        digits(s + 8, 2, &D))
        return -1;
    s += 10;
    if (*s == ' ' || *s == 'T') {
        if (digits(s + 1, 2, &h) || s[3] != ':' || digits(s + 4, 2, &mi)) return -1;
        s += 6;
        if (*s == ':') {
            if (digits(s + 1, 2, &se)) return -1;
            s += 3;
        }
        if (*s == '.' || *s == ',')
            for (s++; isdigit((unsigned char)*s); s++) {
            }
    }
    if (Y < 1800 || Y > 9999 || M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || mi > 59 || se > 60)
        return -1;  /* also the "0000:00:00 00:00:00" cameras write for "unknown" */
    int tz = 0, tzok = 0;
    while (*s == ' ') s++;
    if (*s) {
        if (mg_capture_parse_offset(s, &tz)) return -1;
        tzok = 1;
    }
    *secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + (se > 59 ? 59 : se);
    if (has_tz) *has_tz = tzok;
    if (tz_min && tzok) *tz_min = tz;
    return 0;
}

/* One ISO 6709 coordinate: sign, int_digits (2 lat, 3 lon) of degrees, or
 * +2 of minutes, or +4 of minutes and seconds, an optional fraction. */
static int iso6709_coord(const char **ps, int deg_digits, double *out) {
    const char *s = *ps;
    if (*s != '+' && *s != '-') return -1;
    double sign = *s == '-' ? -1 : 1;
    s++;
    const char *b = s;
    while (isdigit((unsigned char)*s)) s++;
    int n = (int)(s - b);
    double frac = 0;
    if (*s == '.') {
        double f = 0.1;
        for (s++; isdigit((unsigned char)*s); s++, f /= 10) frac += (*s - '0') * f;
    }
    int a, m = 0, sec = 0;
    double v;
    if (n == deg_digits) {
        if (digits(b, n, &a)) return -1;
        v = a + frac;
    } else if (n == deg_digits + 2) {
        if (digits(b, deg_digits, &a) || digits(b + deg_digits, 2, &m) || m > 59) return -1;
        v = a + (m + frac) / 60.0;
    } else if (n == deg_digits + 4) {
        if (digits(b, deg_digits, &a) || digits(b + deg_digits, 2, &m) || digits(b + deg_digits + 2, 2, &sec) ||
            m > 59 || sec > 59)
            return -1;
        v = a + m / 60.0 + (sec + frac) / 3600.0;
    } else {
        return -1;
    }
    *out = sign * v;
    *ps = s;
    return 0;
}

int mg_capture_parse_iso6709(const char *s, double *lat, double *lon, int *has_alt, double *alt) {
    if (!s) return -1;
    double la, lo;
    if (iso6709_coord(&s, 2, &la) || iso6709_coord(&s, 3, &lo)) return -1;
    if (!(fabs(la) <= 90 && fabs(lo) <= 180)) return -1;
    *has_alt = 0;
    if (*s == '+' || *s == '-') {
        char *e;
        double a = strtod(s, &e);
        if (e != s && isfinite(a) && fabs(a) < 1e5) {
            *alt = a;
            *has_alt = 1;
        }
        s = e;
    }
    *lat = la;
    *lon = lo;
    return 0;
}

/* Copies a tag string: printable ASCII/UTF-8 kept, controls dropped,
 * spaces trimmed. */
static void copy_text(char *dst, size_t cap, const char *src, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && src[i] && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch < 0x20 || ch == 0x7f) continue;
        dst[o++] = (char)ch;
    }
    while (o && dst[o - 1] == ' ') o--;
    dst[o] = 0;
    size_t lead = 0;
    while (dst[lead] == ' ') lead++;
    if (lead) memmove(dst, dst + lead, o - lead + 1);
    /* cut a UTF-8 sequence the cap split */
    size_t l = strlen(dst), k = l;
    while (k && ((unsigned char)dst[k - 1] & 0xC0) == 0x80) k--;
    if (k && (unsigned char)dst[k - 1] >= 0xC0) {
        unsigned char lead_b = (unsigned char)dst[k - 1];
        size_t need = lead_b >= 0xF0 ? 4 : lead_b >= 0xE0 ? 3 : 2;
        if (l - (k - 1) < need) dst[k - 1] = 0;
    }
}

/* ---- EXIF (libexif) ---- */

static ExifEntry *entry(ExifData *ed, ExifIfd ifd, ExifTag tag) {
    return ed->ifd[ifd] ? exif_content_get_entry(ed->ifd[ifd], tag) : NULL;
}

static int entry_text(ExifEntry *e, char *buf, size_t cap) {
    if (!e || !e->data || !e->size || (e->format != EXIF_FORMAT_ASCII && e->format != EXIF_FORMAT_UNDEFINED))
        return -1;
    copy_text(buf, cap, (const char *)e->data, e->size);
    return buf[0] ? 0 : -1;
}

/* n rationals of e as doubles; -1 when a denominator is 0 or e is short. */
static int entry_rationals(ExifEntry *e, ExifByteOrder bo, double *v, int n) {
    if (!e || !e->data || e->format != EXIF_FORMAT_RATIONAL || e->components < (unsigned long)n ||
        e->size < (unsigned)(8 * n))
        return -1;
    for (int i = 0; i < n; i++) {
        ExifRational r = exif_get_rational(e->data + 8 * i, bo);
        if (!r.denominator) return -1;
        v[i] = (double)r.numerator / r.denominator;
    }
    return 0;
}

static int gps_coord(ExifData *ed, ExifByteOrder bo, ExifTag tag, ExifTag ref_tag, char neg, double lim,
                     double *out) {
    double dms[3];
    char ref[8];
    if (entry_rationals(entry(ed, EXIF_IFD_GPS, tag), bo, dms, 3)) return -1;
    if (entry_text(entry(ed, EXIF_IFD_GPS, ref_tag), ref, sizeof ref)) return -1;
    if (dms[1] >= 60 || dms[2] >= 60) return -1;
    double v = dms[0] + dms[1] / 60 + dms[2] / 3600;
    if (toupper((unsigned char)ref[0]) == neg) v = -v;
    if (!(fabs(v) <= lim)) return -1;
    *out = v;
    return 0;
}

static void exif_data_to_capture(ExifData *ed, mg_capture *c) {
    ExifByteOrder bo = exif_data_get_byte_order(ed);
    char buf[160];
    static const struct { ExifIfd ifd; ExifTag tag; ExifTag off; } dates[] = {
        {EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL, EXIF_TAG_OFFSET_TIME_ORIGINAL},
        {EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_DIGITIZED, EXIF_TAG_OFFSET_TIME_DIGITIZED},
        {EXIF_IFD_0, EXIF_TAG_DATE_TIME, EXIF_TAG_OFFSET_TIME},
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0] && !c->has_taken; i++) {
        int64_t t;
        if (entry_text(entry(ed, dates[i].ifd, dates[i].tag), buf, sizeof buf) ||
            mg_capture_parse_time(buf, &t, NULL, NULL))
            continue;
        c->has_taken = 1;
        c->taken_local = t;
        int tz;
        if (!entry_text(entry(ed, EXIF_IFD_EXIF, dates[i].off), buf, sizeof buf) && !mg_capture_parse_offset(buf, &tz)) {
            c->has_tz = 1;
            c->tz_min = tz;
        }
    }
    double lat, lon;
    if (!gps_coord(ed, bo, EXIF_TAG_GPS_LATITUDE, EXIF_TAG_GPS_LATITUDE_REF, 'S', 90, &lat) &&
        !gps_coord(ed, bo, EXIF_TAG_GPS_LONGITUDE, EXIF_TAG_GPS_LONGITUDE_REF, 'W', 180, &lon)) {
        c->has_gps = 1;
        c->lat = lat;
        c->lon = lon;
        double a;
        if (!entry_rationals(entry(ed, EXIF_IFD_GPS, EXIF_TAG_GPS_ALTITUDE), bo, &a, 1) && a < 1e5) {
            ExifEntry *r = entry(ed, EXIF_IFD_GPS, EXIF_TAG_GPS_ALTITUDE_REF);
            if (r && r->data && r->size >= 1 && r->data[0] == 1) a = -a;
            c->has_alt = 1;
            c->alt = a;
        }
    }
    entry_text(entry(ed, EXIF_IFD_0, EXIF_TAG_MAKE), c->make, sizeof c->make);
    entry_text(entry(ed, EXIF_IFD_0, EXIF_TAG_MODEL), c->model, sizeof c->model);
    entry_text(entry(ed, EXIF_IFD_EXIF, EXIF_TAG_LENS_MODEL), c->lens, sizeof c->lens);
    ExifEntry *o = entry(ed, EXIF_IFD_0, EXIF_TAG_ORIENTATION);
    if (o && o->data && o->format == EXIF_FORMAT_SHORT && o->size >= 2) {
        int v = exif_get_short(o->data, bo);
        if (v >= 1 && v <= 8) c->orientation = v;
    }
    if (c->has_taken || c->has_gps || c->make[0] || c->model[0] || c->lens[0] || c->orientation) c->source = "exif";
}

void mg_capture_from_exif(const uint8_t *data, size_t len, mg_capture *c) {
    if (!data || len < 8 || len > MAX_EXIF_BYTES) return;
    uint8_t *tmp = NULL;
    const uint8_t *d = data;
    size_t n = len;
    if (memcmp(data, "Exif\0\0", 6)) { /* a bare TIFF header: libexif wants the Exif prefix */
        if (memcmp(data, "II*\0", 4) && memcmp(data, "MM\0*", 4)) return;
        tmp = malloc(len + 6);
        if (!tmp) return;
        memcpy(tmp, "Exif\0\0", 6);
        memcpy(tmp + 6, data, len);
        d = tmp;
        n = len + 6;
    }
    ExifData *ed = exif_data_new();
    if (ed) {
        exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_set_option(ed, EXIF_DATA_OPTION_DONT_CHANGE_MAKER_NOTE);
        exif_data_set_option(ed, EXIF_DATA_OPTION_IGNORE_UNKNOWN_TAGS);
        exif_data_load_data(ed, d, (unsigned int)n);
        exif_data_to_capture(ed, c);
        exif_data_unref(ed);
    }
    free(tmp);
}

/* ---- container walkers (JPEG, PNG, WebP) ---- */

static uint32_t be32(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }
static uint32_t le32(const uint8_t *b) { return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0]; }

/* Reads n bytes of f into a new buffer and parses them as EXIF. */
static void read_exif_block(FILE *f, size_t n, mg_capture *c) {
    if (n < 8 || n > MAX_EXIF_BYTES) return;
    uint8_t *b = malloc(n);
    if (b && fread(b, 1, n, f) == n) mg_capture_from_exif(b, n, c);
    free(b);
}

static void walk_jpeg(FILE *f, mg_capture *c) {
    for (int steps = 0; steps < 4096; steps++) {
        int ch = fgetc(f);
        if (ch != 0xFF) return;
        int marker;
        do marker = fgetc(f);
        while (marker == 0xFF);
        if (marker == EOF || marker == 0xDA || marker == 0xD9) return;  /* SOS: no metadata after it */
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;
        uint8_t lb[2];
        if (fread(lb, 1, 2, f) != 2) return;
        size_t len = (size_t)lb[0] << 8 | lb[1];
        if (len < 2) return;
        len -= 2;
        if (marker == 0xE1 && len >= 14) {
            long at = ftell(f);
            uint8_t sig[6];
            if (fread(sig, 1, 6, f) != 6) return;
            if (!memcmp(sig, "Exif\0\0", 6)) {
                read_exif_block(f, len - 6, c);
                return;
            }
            if (fseek(f, at, SEEK_SET)) return;
        }
        if (fseek(f, (long)len, SEEK_CUR)) return;
    }
}

static void walk_png(FILE *f, mg_capture *c) {
    for (int i = 0; i < MAX_CHUNKS; i++) {
        uint8_t h[8];
        if (fread(h, 1, 8, f) != 8) return;
        uint32_t len = be32(h);
        if (len > 0x7FFFFFFFu) return;
        if (!memcmp(h + 4, "eXIf", 4)) {
            read_exif_block(f, len, c);
            return;
        }
        if (!memcmp(h + 4, "IEND", 4)) return;
        if (fseek(f, (long)len + 4, SEEK_CUR)) return;  /* data + CRC */
    }
}

static void walk_webp(FILE *f, mg_capture *c) {
    for (int i = 0; i < MAX_CHUNKS; i++) {
        uint8_t h[8];
        if (fread(h, 1, 8, f) != 8) return;
        uint32_t len = le32(h + 4);
        if (len > 0x7FFFFFF0u) return;
        if (!memcmp(h, "EXIF", 4)) {
            read_exif_block(f, len, c);
            return;
        }
        if (fseek(f, (long)len + (len & 1), SEEK_CUR)) return;
    }
}

int mg_capture_from_stream(FILE *f, mg_capture *c) {
    uint8_t m[12];
    size_t n = fread(m, 1, sizeof m, f);
    if (n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) {
        if (fseek(f, 2, SEEK_SET)) return 1;
        walk_jpeg(f, c);
        return 1;
    }
    if (n >= 8 && !memcmp(m, "\x89PNG\r\n\x1a\n", 8)) {
        if (fseek(f, 8, SEEK_SET)) return 1;
        walk_png(f, c);
        return 1;
    }
    if (n >= 12 && !memcmp(m, "RIFF", 4) && !memcmp(m + 8, "WEBP", 4)) {
        walk_webp(f, c);  /* positioned after the 12-byte RIFF header */
        return 1;
    }
    return 0;
}

/* ---- TIFF (libtiff) ---- */

static int tiff_text(TIFF *t, uint32_t tag, char *buf, size_t cap) {
    char *s = NULL;
    if (TIFFGetField(t, tag, &s) != 1 || !s) return -1;
    copy_text(buf, cap, s, strlen(s));
    return buf[0] ? 0 : -1;
}

/* GPS rationals: libtiff 4.5 hands them out as arrays of 3 doubles. */
static int tiff_gps(TIFF *t, uint32_t tag, uint32_t ref_tag, char neg, double lim, double *out) {
    double *v = NULL;
    char ref[8];
    if (TIFFGetField(t, tag, &v) != 1 || !v || tiff_text(t, ref_tag, ref, sizeof ref)) return -1;
    if (!(v[0] >= 0 && v[1] >= 0 && v[1] < 60 && v[2] >= 0 && v[2] < 60)) return -1;
    double d = v[0] + v[1] / 60 + v[2] / 3600;
    if (toupper((unsigned char)ref[0]) == neg) d = -d;
    if (!(fabs(d) <= lim)) return -1;
    *out = d;
    return 0;
}

static void read_tiff(const char *path, mg_capture *c) {
    TIFFErrorHandler oe = TIFFSetErrorHandler(NULL), ow = TIFFSetWarningHandler(NULL);
    TIFF *t = TIFFOpen(path, "rm");  /* m: no memory-mapping the whole file */
    if (t) {
        char buf[160];
        tiff_text(t, TIFFTAG_MAKE, c->make, sizeof c->make);
        tiff_text(t, TIFFTAG_MODEL, c->model, sizeof c->model);
        uint16_t o = 0;
        if (TIFFGetField(t, TIFFTAG_ORIENTATION, &o) == 1 && o >= 1 && o <= 8) c->orientation = o;
        int64_t ifd0_time = 0;
        int have_ifd0 = !tiff_text(t, TIFFTAG_DATETIME, buf, sizeof buf) && !mg_capture_parse_time(buf, &ifd0_time, NULL, NULL);
        toff_t exif_off = 0, gps_off = 0;
        int has_exif = TIFFGetField(t, TIFFTAG_EXIFIFD, &exif_off) == 1 && exif_off;
        int has_gpsifd = TIFFGetField(t, TIFFTAG_GPSIFD, &gps_off) == 1 && gps_off;
        if (has_exif && TIFFReadEXIFDirectory(t, exif_off)) {
            int64_t tt;
            if ((!tiff_text(t, EXIFTAG_DATETIMEORIGINAL, buf, sizeof buf) ||
                 !tiff_text(t, EXIFTAG_DATETIMEDIGITIZED, buf, sizeof buf)) &&
                !mg_capture_parse_time(buf, &tt, NULL, NULL)) {
                c->has_taken = 1;
                c->taken_local = tt;
                int tz;
                if (!tiff_text(t, EXIFTAG_OFFSETTIMEORIGINAL, buf, sizeof buf) && !mg_capture_parse_offset(buf, &tz)) {
                    c->has_tz = 1;
                    c->tz_min = tz;
                }
            }
            tiff_text(t, EXIFTAG_LENSMODEL, c->lens, sizeof c->lens);
        }
        if (!c->has_taken && have_ifd0) {
            c->has_taken = 1;
            c->taken_local = ifd0_time;
        }
        if (has_gpsifd && TIFFReadGPSDirectory(t, gps_off)) {
            double lat, lon;
            if (!tiff_gps(t, GPSTAG_LATITUDE, GPSTAG_LATITUDEREF, 'S', 90, &lat) &&
                !tiff_gps(t, GPSTAG_LONGITUDE, GPSTAG_LONGITUDEREF, 'W', 180, &lon)) {
                c->has_gps = 1;
                c->lat = lat;
                c->lon = lon;
                double alt = 0;
                uint8_t aref = 0;
                if (TIFFGetField(t, GPSTAG_ALTITUDE, &alt) == 1 && isfinite(alt) && fabs(alt) < 1e5) {
                    if (TIFFGetField(t, GPSTAG_ALTITUDEREF, &aref) == 1 && aref == 1) alt = -alt;
                    c->has_alt = 1;
                    c->alt = alt;
                }
            }
        }
        TIFFClose(t);
        if (c->has_taken || c->has_gps || c->make[0] || c->model[0] || c->lens[0] || c->orientation) c->source = "tiff";
    }
    TIFFSetErrorHandler(oe);
    TIFFSetWarningHandler(ow);
}

/* ---- HEIF / AVIF (libheif) ---- */

static void read_heif(const char *path, mg_capture *c) {
    struct heif_context *ctx = heif_context_alloc();
    if (!ctx) return;
    struct heif_image_handle *h = NULL;
    if (heif_context_read_from_file(ctx, path, NULL).code == heif_error_Ok &&
        heif_context_get_primary_image_handle(ctx, &h).code == heif_error_Ok) {
        heif_item_id ids[4];
        int n = heif_image_handle_get_list_of_metadata_block_IDs(h, "Exif", ids, 4);
        for (int i = 0; i < n && !c->source[0]; i++) {
            size_t sz = heif_image_handle_get_metadata_size(h, ids[i]);
            if (sz < 12 || sz > MAX_EXIF_BYTES) continue;
            uint8_t *b = malloc(sz);
            if (b && heif_image_handle_get_metadata(h, ids[i], b).code == heif_error_Ok) {
                uint32_t off = be32(b);   /* ISO/IEC 23008-12: offset to the TIFF header */
                if ((size_t)off + 4 < sz) mg_capture_from_exif(b + 4 + off, sz - 4 - off, c);
            }
            free(b);
        }
        heif_image_handle_release(h);
    }
    heif_context_free(ctx);
}

/* ---- videos and audio (libavformat) ---- */

static const char *tag(AVDictionary *d, const char *key) {
    AVDictionaryEntry *e = av_dict_get(d, key, NULL, 0);
    return e && e->value && e->value[0] ? e->value : NULL;
}

static void read_container(const char *path, mg_capture *c) {
    AVFormatContext *fmt = NULL;
    size_t n = strlen(path) + 6;
    char *url = malloc(n);
    if (!url) return;
    snprintf(url, n, "file:%s", path);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    int ret = avformat_open_input(&fmt, url, NULL, &opts);
    av_dict_free(&opts);
    free(url);
    if (ret < 0) return;
    AVDictionary *md = fmt->metadata;
    AVDictionary *smd = fmt->nb_streams ? fmt->streams[0]->metadata : NULL;
    const char *s;
    int64_t t;
    int has_tz = 0, tz = 0, apple = 0;
    /* QuickTime's creationdate is the local time with its zone; creation_time
     * is UTC ("Z": the wall clock is then UTC's, offset 0) */
    if ((s = tag(md, "com.apple.quicktime.creationdate")) && !mg_capture_parse_time(s, &t, &has_tz, &tz)) {
        apple = 1;
    } else if (!((s = tag(md, "creation_time")) || (s = tag(smd, "creation_time")) || (s = tag(md, "date"))) ||
               mg_capture_parse_time(s, &t, &has_tz, &tz)) {
        s = NULL;
    }
    if (s) {
        c->has_taken = 1;
        c->taken_local = t;
        c->has_tz = has_tz;
        c->tz_min = has_tz ? tz : 0;
    }
    if ((s = tag(md, "com.apple.quicktime.location.ISO6709")) || (s = tag(md, "location")) ||
        (s = tag(md, "location-eng"))) {
        double la, lo, al;
        int ha;
        if (!mg_capture_parse_iso6709(s, &la, &lo, &ha, &al)) {
            c->has_gps = 1;
            c->lat = la;
            c->lon = lo;
            c->has_alt = ha;
            c->alt = ha ? al : 0;
        }
    }
    if ((s = tag(md, "com.apple.quicktime.make")) || (s = tag(md, "make")) || (s = tag(md, "com.android.manufacturer")))
        copy_text(c->make, sizeof c->make, s, strlen(s));
    if ((s = tag(md, "com.apple.quicktime.model")) || (s = tag(md, "model")) || (s = tag(md, "com.android.model")))
        copy_text(c->model, sizeof c->model, s, strlen(s));
    if (tag(md, "com.apple.quicktime.location.ISO6709") || tag(md, "com.apple.quicktime.make")) apple = 1;
    avformat_close_input(&fmt);
    if (c->has_taken || c->has_gps || c->make[0] || c->model[0]) c->source = apple ? "quicktime" : "container";
}

/* ---- the entry point ---- */

int mg_capture_read(const char *path, mg_capture *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    out->source = "";
    FILE *f = fopen(path, "rb");
    if (!f) return mg_err_set(err, MG_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t m[16] = {0};
    size_t n = fread(m, 1, sizeof m, f);
    if (ferror(f)) {
        fclose(f);
        return mg_err_set(err, MG_EIO, "%s: cannot read", path);
    }
    rewind(f);
    int handled = mg_capture_from_stream(f, out);
    fclose(f);
    if (handled) return MG_OK;
    if (n >= 4 && (!memcmp(m, "II*\0", 4) || !memcmp(m, "MM\0*", 4))) {
        read_tiff(path, out);
        return MG_OK;
    }
    if (n >= 12 && !memcmp(m + 4, "ftyp", 4) &&
        (!memcmp(m + 8, "heic", 4) || !memcmp(m + 8, "heix", 4) || !memcmp(m + 8, "mif1", 4) ||
         !memcmp(m + 8, "msf1", 4) || !memcmp(m + 8, "avif", 4) || !memcmp(m + 8, "avis", 4) ||
         !memcmp(m + 8, "heim", 4) || !memcmp(m + 8, "heis", 4) || !memcmp(m + 8, "hevc", 4))) {
        read_heif(path, out);
        if (out->source[0]) return MG_OK;
    }
    read_container(path, out);
    return MG_OK;
}

void mg_capture_format_taken(const mg_capture *c, char *buf, size_t cap) {
    if (!cap) return;
    buf[0] = 0;
    if (!c->has_taken) return;
    time_t t = (time_t)c->taken_local;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) return;
    size_t n = strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
    if (c->has_tz && n + 7 <= cap)
        snprintf(buf + n, cap - n, "%c%02d:%02d", c->tz_min < 0 ? '-' : '+', abs(c->tz_min) / 60, abs(c->tz_min) % 60);
}

json_object *mg_capture_to_json(const mg_capture *c) {
    json_object *o = json_object_new_object();
    char b[64];
    if (c->has_taken) {
        mg_capture_format_taken(c, b, sizeof b);
        json_object_object_add(o, "taken", json_object_new_string(b));
    }
    if (c->has_gps) {
        snprintf(b, sizeof b, "%.7f", c->lat);
        json_object_object_add(o, "latitude", json_object_new_double_s(c->lat, b));
        snprintf(b, sizeof b, "%.7f", c->lon);
        json_object_object_add(o, "longitude", json_object_new_double_s(c->lon, b));
        if (c->has_alt) {
            snprintf(b, sizeof b, "%.2f", c->alt);
            json_object_object_add(o, "altitude", json_object_new_double_s(c->alt, b));
        }
    }
    if (c->make[0]) json_object_object_add(o, "make", json_object_new_string(c->make));
    if (c->model[0]) json_object_object_add(o, "model", json_object_new_string(c->model));
    if (c->lens[0]) json_object_object_add(o, "lens", json_object_new_string(c->lens));
    if (c->orientation) json_object_object_add(o, "orientation", json_object_new_int(c->orientation));
    return o;
}
