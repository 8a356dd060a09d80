/*
 * test_capture.c - the capture-metadata readers (media/capture.h) on bytes
 * built here: EXIF and ISO 8601 times with and without offsets, ISO 6709
 * locations in their three forms, offsets, invalid values refused; EXIF
 * blocks written byte by byte (IFD0 with Make/Model/Orientation, the EXIF
 * IFD with DateTimeOriginal/OffsetTimeOriginal/LensModel, the GPS IFD) in
 * both byte orders, embedded in JPEG, PNG and WebP streams read through
 * mg_capture_from_stream; damaged blocks (truncations of every length,
 * offsets out of range, zero denominators) give no field rather than a
 * wrong one; and the filters (capture_filter.h): dates, distance, camera and
 * lens, missing fields. Also built with ASan+UBSan (test_capture_asan).
 * Files written by exiftool and real containers: tests/capture_check.py.
 */
#include "media/capture.h"
#include "search/capture_filter.h"
#include "testlib.h"

#include <stdint.h>

static void test_times(void) {
    int64_t t;
    int has = -1, tz = 99;
    CHECK(mg_capture_parse_time("2021:07:04 18:30:05", &t, &has, &tz) == 0 && t == 1625423405 && has == 0);
    CHECK(mg_capture_parse_time("2021-07-04T18:30:05.123456Z", &t, &has, &tz) == 0 && t == 1625423405 && has == 1 &&
          tz == 0);
    CHECK(mg_capture_parse_time("2021-07-04T18:30:05+0200", &t, &has, &tz) == 0 && t == 1625423405 && tz == 120);
    CHECK(mg_capture_parse_time("2021-07-04T18:30:05-05:30", &t, &has, &tz) == 0 && tz == -330);
    CHECK(mg_capture_parse_time("2024:02:29 00:00:00", &t, NULL, NULL) == 0 && t == 1709164800);
    CHECK(mg_capture_parse_time("2023:02:29 00:00:00", &t, NULL, NULL) == -1);   /* not a leap year */
    CHECK(mg_capture_parse_time("0000:00:00 00:00:00", &t, NULL, NULL) == -1);   /* "unknown" */
    CHECK(mg_capture_parse_time("2021:13:01 00:00:00", &t, NULL, NULL) == -1);
    CHECK(mg_capture_parse_time("2021:07:04 24:00:00", &t, NULL, NULL) == -1);
    CHECK(mg_capture_parse_time("2021:07-04 18:30:05", &t, NULL, NULL) == -1);   /* mixed separators */
    CHECK(mg_capture_parse_time("2021:07:04 18:30:05 junk", &t, NULL, NULL) == -1);
    CHECK(mg_capture_parse_time("", &t, NULL, NULL) == -1 && mg_capture_parse_time(NULL, &t, NULL, NULL) == -1);
    CHECK(mg_capture_parse_time("1899:12:31 00:00:00", &t, NULL, NULL) == 0 && t < 0);
    int off = 5;
    CHECK(mg_capture_parse_offset("+02:00", &off) == 0 && off == 120);
    CHECK(mg_capture_parse_offset("-0930", &off) == 0 && off == -570);
    CHECK(mg_capture_parse_offset("Z", &off) == 0 && off == 0);
    off = 7;
    CHECK(mg_capture_parse_offset("+15:00", &off) == -1 && off == 7);
    CHECK(mg_capture_parse_offset("+02:60", &off) == -1 && mg_capture_parse_offset("02:00", &off) == -1);
    mg_capture c;
    memset(&c, 0, sizeof c);
    c.has_taken = 1;
    c.taken_local = 1625423405;
    char b[48];
    mg_capture_format_taken(&c, b, sizeof b);
    CHECK(!strcmp(b, "2021-07-04 18:30:05"));
    c.has_tz = 1;
    c.tz_min = -330;
    mg_capture_format_taken(&c, b, sizeof b);
    CHECK(!strcmp(b, "2021-07-04 18:30:05-05:30"));
}

static void test_iso6709(void) {
    double la, lo, al;
    int ha;
    CHECK(mg_capture_parse_iso6709("+48.8584+002.2945+035.500/", &la, &lo, &ha, &al) == 0 && fabs(la - 48.8584) < 1e-9 &&
          fabs(lo - 2.2945) < 1e-9 && ha && fabs(al - 35.5) < 1e-9);
    CHECK(mg_capture_parse_iso6709("-33.8688+151.2093/", &la, &lo, &ha, &al) == 0 && la < 0 && lo > 151 && !ha);
    /* degrees and minutes: +4851.504 = 48 deg 51.504 min */
    CHECK(mg_capture_parse_iso6709("+4851.504+00217.67/", &la, &lo, &ha, &al) == 0 && fabs(la - 48.8584) < 1e-6 &&
          fabs(lo - (2 + 17.67 / 60)) < 1e-9);
    /* degrees, minutes, seconds */
    CHECK(mg_capture_parse_iso6709("+404123-0740244/", &la, &lo, &ha, &al) == 0 &&
          fabs(la - (40 + 41 / 60.0 + 23 / 3600.0)) < 1e-9 && fabs(lo + (74 + 2 / 60.0 + 44 / 3600.0)) < 1e-9);
    CHECK(mg_capture_parse_iso6709("+91.0+000.0/", &la, &lo, &ha, &al) == -1);
    CHECK(mg_capture_parse_iso6709("+45.0+181.0/", &la, &lo, &ha, &al) == -1);
    CHECK(mg_capture_parse_iso6709("+4861.0+00200.0/", &la, &lo, &ha, &al) == -1);   /* 61 minutes */
    CHECK(mg_capture_parse_iso6709("48.8584,2.2945", &la, &lo, &ha, &al) == -1);
    CHECK(mg_capture_parse_iso6709("+48.8+2.29/", &la, &lo, &ha, &al) == -1);        /* 1-digit longitude degrees */
    CHECK(mg_capture_parse_latlon("48.8584, 2.2945", &la, &lo) == 0 && fabs(lo - 2.2945) < 1e-12);
    CHECK(mg_capture_parse_latlon("-33.9;151.2", &la, &lo) == 0 && la < 0);
    CHECK(mg_capture_parse_latlon("95,0", &la, &lo) == -1 && mg_capture_parse_latlon("1,2,3", &la, &lo) == -1 &&
          mg_capture_parse_latlon("north", &la, &lo) == -1);
}

/* ---- an EXIF block written byte by byte ---- */

typedef struct {
    uint8_t b[4096];
    size_t n;
    int le;
} buf;

static void put16(buf *w, size_t at, unsigned v) {
    if (w->le) w->b[at] = v & 255, w->b[at + 1] = v >> 8;
    else w->b[at] = v >> 8, w->b[at + 1] = v & 255;
}
static void put32(buf *w, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) w->b[at + (w->le ? i : 3 - i)] = (v >> (8 * i)) & 255;
}

typedef struct {
    unsigned tag, type;
    uint32_t count;
    const void *data;   /* type 2: string; 3: unsigned[1]; 5: uint32 pairs; 4: filled later (pointer) */
} ent;

/* Writes an IFD at w->n with its values after it; returns the offset of
 * each LONG entry's value field (for IFD pointers) through ptr_at. */
static size_t write_ifd(buf *w, const ent *e, int n, size_t *ptr_at) {
    size_t at = w->n, val = at + 2 + 12 * (size_t)n + 4;
    put16(w, at, (unsigned)n);
    for (int i = 0; i < n; i++) {
        size_t p = at + 2 + 12 * (size_t)i;
        put16(w, p, e[i].tag);
        put16(w, p + 2, e[i].type);
        put32(w, p + 4, e[i].count);
        size_t sz = e[i].type == 2 ? e[i].count : e[i].type == 3 ? 2 * e[i].count : e[i].type == 5 ? 8 * e[i].count : 4;
        uint8_t tmp[256] = {0};
        if (e[i].type == 2) memcpy(tmp, e[i].data, e[i].count);
        else if (e[i].type == 3) tmp[0] = 0;
        if (e[i].type == 4) {
            if (ptr_at) *ptr_at = p + 8;
            put32(w, p + 8, 0);
            continue;
        }
        size_t dst = sz <= 4 ? p + 8 : val;
        if (e[i].type == 2) memcpy(w->b + dst, tmp, sz);
        else if (e[i].type == 3) put16(w, dst, ((const unsigned *)e[i].data)[0]);
        else if (e[i].type == 5)
            for (uint32_t k = 0; k < 2 * e[i].count; k++) put32(w, dst + 4 * k, ((const uint32_t *)e[i].data)[k]);
        if (sz > 4) {
            put32(w, p + 8, (uint32_t)(val - 6)); /* offsets count from the TIFF header (after "Exif\0\0") */
            val += sz + (sz & 1);
        }
    }
    put32(w, at + 2 + 12 * (size_t)n, 0);
    w->n = val;
    return at;
}

/* "Exif\0\0" + TIFF: IFD0 (Make, Model, Orientation, ExifIFD, GPS IFD), EXIF IFD, GPS IFD. */
static size_t make_exif(buf *w, int le, int gps_south_west) {
    memset(w, 0, sizeof *w);
    w->le = le;
    memcpy(w->b, "Exif\0\0", 6);
    memcpy(w->b + 6, le ? "II*\0" : "MM\0*", 4);
    put32(w, 10, 8);
    w->n = 14;
    unsigned orient = 6;
    size_t exif_ptr = 0, gps_ptr = 0;
    ent ifd0[] = {{0x010F, 2, 6, "Canon"}, {0x0110, 2, 13, "Canon EOS R5"}, {0x0112, 3, 1, &orient},
                  {0x8769, 4, 1, NULL}, {0x8825, 4, 1, NULL}};
    /* write the two pointers by hand: write_ifd only records the last LONG */
    size_t at0 = w->n;
    write_ifd(w, ifd0, 5, &gps_ptr);
    exif_ptr = at0 + 2 + 12 * 3 + 8;
    size_t exif_at = w->n;
    ent ex[] = {{0x9003, 2, 20, "2021:07:04 18:30:05"}, {0x9011, 2, 7, "+02:00"}, {0xA434, 2, 23, "RF24-105mm F4 L IS USM"}};
    write_ifd(w, ex, 3, NULL);
    put32(w, exif_ptr, (uint32_t)(exif_at - 6));
    size_t gps_at = w->n;
    static const uint32_t lat[6] = {48, 1, 51, 1, 3024, 100};   /* 48 deg 51' 30.24" = 48.8584 */
    static const uint32_t lon[6] = {2, 1, 17, 1, 4020, 100};    /* 2 deg 17' 40.20" = 2.2945 */
    static const uint32_t alt[2] = {355, 10};
    unsigned altref = 0;
    ent gps[] = {{0x0001, 2, 2, gps_south_west ? "S" : "N"}, {0x0002, 5, 3, lat}, {0x0003, 2, 2, gps_south_west ? "W" : "E"},
                 {0x0004, 5, 3, lon}, {0x0005, 1, 1, NULL}, {0x0006, 5, 1, alt}};
    (void)altref;
    /* AltitudeRef is a BYTE: written inline as 0 */
    write_ifd(w, gps, 6, NULL);
    {
        size_t p = gps_at + 2 + 12 * 4;
        put16(w, p + 2, 1);
        w->b[p + 8] = 0;
    }
    put32(w, gps_ptr, (uint32_t)(gps_at - 6));
    return w->n;
}

static void check_full(const mg_capture *c, int sw, const char *what) {
    CHECK_MSG(c->has_taken && c->taken_local == 1625423405, "%s: taken", what);
    CHECK_MSG(c->has_tz && c->tz_min == 120, "%s: tz", what);
    CHECK_MSG(c->has_gps && fabs(c->lat - (sw ? -48.8584 : 48.8584)) < 1e-6 &&
                  fabs(c->lon - (sw ? -2.2945 : 2.2945)) < 1e-6, "%s: gps %f %f", what, c->lat, c->lon);
    CHECK_MSG(c->has_alt && fabs(c->alt - 35.5) < 1e-9, "%s: alt", what);
    CHECK_MSG(!strcmp(c->make, "Canon") && !strcmp(c->model, "Canon EOS R5"), "%s: camera '%s' '%s'", what, c->make,
              c->model);
    CHECK_MSG(!strcmp(c->lens, "RF24-105mm F4 L IS USM"), "%s: lens '%s'", what, c->lens);
    CHECK_MSG(c->orientation == 6, "%s: orientation %d", what, c->orientation);
}

static void from_bytes(const uint8_t *b, size_t n, mg_capture *c) {
    memset(c, 0, sizeof *c);
    c->source = "";
    mg_capture_from_exif(b, n, c);
}

static int from_stream(const uint8_t *b, size_t n, mg_capture *c) {
    memset(c, 0, sizeof *c);
    c->source = "";
    FILE *f = fmemopen((void *)b, n, "rb");
    if (!f) return -1;
    int r = mg_capture_from_stream(f, c);
    fclose(f);
    return r;
}

static void test_exif(void) {
    buf w;
    mg_capture c;
    for (int le = 0; le <= 1; le++)
        for (int sw = 0; sw <= 1; sw++) {
            size_t n = make_exif(&w, le, sw);
            from_bytes(w.b, n, &c);
            check_full(&c, sw, le ? "II exif" : "MM exif");
            from_bytes(w.b + 6, n - 6, &c); /* bare TIFF, as PNG eXIf and most WebP carry it */
            check_full(&c, sw, "bare tiff");
            CHECK(!strcmp(c.source, "exif"));
        }
    size_t n = make_exif(&w, 1, 0);
    /* containers */
    static uint8_t s[8192];
    size_t k = 0;
    memcpy(s, "\xFF\xD8\xFF\xE0\x00\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0", 20);
    k = 20;
    s[k++] = 0xFF, s[k++] = 0xE1, s[k++] = (uint8_t)((n + 2) >> 8), s[k++] = (uint8_t)(n + 2);
    memcpy(s + k, w.b, n);
    k += n;
    memcpy(s + k, "\xFF\xDA\x00\x02", 4);
    k += 4;
    CHECK(from_stream(s, k, &c) == 1);
    check_full(&c, 0, "jpeg");
    for (size_t cut = 0; cut < k; cut += 7) { /* every truncation: no crash, no wrong field */
        from_stream(s, cut, &c);
        if (c.has_taken) CHECK(c.taken_local == 1625423405);
        if (c.has_gps) CHECK(fabs(c.lat - 48.8584) < 1e-6);
    }
    k = 0;
    memcpy(s, "\x89PNG\r\n\x1a\n", 8);
    k = 8;
    memcpy(s + k, "\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\0\0\0\0", 25);
    k += 25;
    s[k++] = 0, s[k++] = 0, s[k++] = (uint8_t)((n - 6) >> 8), s[k++] = (uint8_t)(n - 6);
    memcpy(s + k, "eXIf", 4);
    k += 4;
    memcpy(s + k, w.b + 6, n - 6);
    k += n - 6;
    memcpy(s + k, "\0\0\0\0", 4);
    k += 4;
    CHECK(from_stream(s, k, &c) == 1);
    check_full(&c, 0, "png");
    k = 0;
    memcpy(s, "RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x08\0\0\0\0\0\0\0\0\0", 30);
    k = 30;
    memcpy(s + k, "EXIF", 4);
    k += 4;
    s[k++] = (uint8_t)(n - 6), s[k++] = (uint8_t)((n - 6) >> 8), s[k++] = 0, s[k++] = 0;
    memcpy(s + k, w.b + 6, n - 6);
    k += n - 6;
    CHECK(from_stream(s, k, &c) == 1);
    check_full(&c, 0, "webp");
    CHECK(from_stream((const uint8_t *)"GIF89a......", 12, &c) == 0);

    /* damage: truncations and flipped bytes never give a wrong value */
    for (size_t cut = 8; cut < n; cut++) {
        from_bytes(w.b, cut, &c);
        if (c.has_taken) CHECK(c.taken_local == 1625423405);
        if (c.make[0]) CHECK(!strcmp(c.make, "Canon"));
    }
    buf d;
    for (size_t i = 6; i < n; i++) {
        d = w;
        d.b[i] ^= 0xFF;
        from_bytes(d.b, n, &c);   /* must not crash; ASan checks the reads */
        CHECK(!c.has_gps || (fabs(c.lat) <= 90 && fabs(c.lon) <= 180));
        CHECK(c.orientation >= 0 && c.orientation <= 8);
    }
    from_bytes((const uint8_t *)"Exif\0\0II*\0\xff\xff\xff\x7f", 14, &c);   /* IFD0 offset out of range */
    CHECK(!c.has_taken && !c.has_gps && !c.make[0]);
    from_bytes((const uint8_t *)"not exif at all", 15, &c);
    CHECK(!c.has_taken && !c.source[0]);
}

static void test_filters(void) {
    mg_capture c;
    memset(&c, 0, sizeof c);
    c.source = "";
    mg_capture_filter f;
    memset(&f, 0, sizeof f);
    CHECK(!mg_capture_filter_active(&f) && mg_capture_filter_match(&f, &c) == 1);
    f.has_after = 1;
    f.taken_after = 1625356800;   /* 2021-07-04 */
    CHECK(mg_capture_filter_active(&f) && mg_capture_filter_match(&f, &c) == -1);   /* no date */
    c.has_taken = 1;
    c.taken_local = 1625423405;
    CHECK(mg_capture_filter_match(&f, &c) == 1);
    f.has_before = 1;
    f.taken_before = 1625356800 + 86400;
    CHECK(mg_capture_filter_match(&f, &c) == 1);
    f.taken_before = 1625356800;
    CHECK(mg_capture_filter_match(&f, &c) == 0);
    memset(&f, 0, sizeof f);
    f.near = 1;
    f.lat = 48.8606;
    f.lon = 2.3376;  /* the Louvre, 3.2 km from the Eiffel tower */
    f.radius_km = 3;
    CHECK(mg_capture_filter_match(&f, &c) == -1);
    c.has_gps = 1;
    c.lat = 48.8584;
    c.lon = 2.2945;
    double dkm = mg_capture_distance_km(f.lat, f.lon, c.lat, c.lon);
    CHECK_MSG(dkm > 3.1 && dkm < 3.3, "distance %f", dkm);
    CHECK(mg_capture_filter_match(&f, &c) == 0);
    f.radius_km = 3.5;
    CHECK(mg_capture_filter_match(&f, &c) == 1);
    CHECK(fabs(mg_capture_distance_km(0, 179.9, 0, -179.9) - 22.24) < 0.1);   /* across the date line */
    CHECK(fabs(mg_capture_distance_km(90, 0, -90, 0) - 20015.1) < 1);
    memset(&f, 0, sizeof f);
    f.camera = "eos r5";
    CHECK(mg_capture_filter_match(&f, &c) == -1);
    snprintf(c.make, sizeof c.make, "Canon");
    snprintf(c.model, sizeof c.model, "Canon EOS R5");
    CHECK(mg_capture_filter_match(&f, &c) == 1);
    f.camera = "canon eos";
    CHECK(mg_capture_filter_match(&f, &c) == 1);
    f.camera = "nikon";
    CHECK(mg_capture_filter_match(&f, &c) == 0);
    f.camera = NULL;
    f.lens = "105mm";
    CHECK(mg_capture_filter_match(&f, &c) == -1);
    snprintf(c.lens, sizeof c.lens, "RF24-105mm F4");
    CHECK(mg_capture_filter_match(&f, &c) == 1);
}

int main(void) {
    test_times();
    test_iso6709();
    test_exif();
    test_filters();
    return mg_test_finish();
}
