/*
 * capture_filter.c - capture-metadata filters for search and classify
 * (capture_filter.h) and a cached reader of the catalog's capture rows.
 */
#include "search/capture_filter.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mg_capture_reader {
    sqlite3_stmt *st;
};

int mg_capture_filter_active(const mg_capture_filter *f) {
    return f->has_after || f->has_before || f->near || (f->camera && *f->camera) || (f->lens && *f->lens);
}

static int contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (!n) return 1;
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

double mg_capture_distance_km(double lat1, double lon1, double lat2, double lon2) {
    const double d2r = M_PI / 180, R = 6371.0088;
    double dlat = (lat2 - lat1) * d2r, dlon = (lon2 - lon1) * d2r;
    double a = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * d2r) * cos(lat2 * d2r) * sin(dlon / 2) * sin(dlon / 2);
    if (a > 1) a = 1;
    return 2 * R * asin(sqrt(a));
}

int mg_capture_filter_match(const mg_capture_filter *f, const mg_capture *c) {
    int missing = 0;
    if (f->has_after || f->has_before) {
        if (!c->has_taken) missing = 1;
        else if ((f->has_after && c->taken_local < f->taken_after) || (f->has_before && c->taken_local >= f->taken_before))
            return 0;
    }
    if (f->near) {
        if (!c->has_gps) missing = 1;
        else if (mg_capture_distance_km(f->lat, f->lon, c->lat, c->lon) > f->radius_km) return 0;
    }
    if (f->camera && *f->camera) {
        char cam[200];
        snprintf(cam, sizeof cam, "%s %s", c->make, c->model);
        if (!c->make[0] && !c->model[0]) missing = 1;
        else if (!contains_ci(cam, f->camera)) return 0;
    }
    if (f->lens && *f->lens) {
        if (!c->lens[0]) missing = 1;
        else if (!contains_ci(c->lens, f->lens)) return 0;
    }
    return missing ? -1 : 1;
}

int mg_capture_parse_latlon(const char *s, double *lat, double *lon) {
    if (!s) return -1;
    char *e;
    double a = strtod(s, &e);
    if (e == s) return -1;
    while (*e == ' ') e++;
    if (*e != ',' && *e != ';') return -1;
    const char *b = e + 1;
    double o = strtod(b, &e);
    if (e == b) return -1;
    while (*e == ' ') e++;
    if (*e || !(fabs(a) <= 90) || !(fabs(o) <= 180)) return -1;
    *lat = a;
    *lon = o;
    return 0;
}

mg_capture_reader *mg_capture_reader_open(sqlite3 *db) {
    mg_capture_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    /* a current row only: one read at this file's size and mtime */
    if (sqlite3_prepare_v2(db,
                           "SELECT k.taken_local, k.tz_min, k.lat, k.lon, k.alt, k.make, k.model, k.lens,"
                           " k.orientation FROM capture k JOIN media m ON m.id = k.media_id WHERE k.media_id = ?1"
                           " AND k.size IS m.size AND k.mtime_ns IS m.mtime_ns",
                           -1, &r->st, NULL) != SQLITE_OK) {
        free(r);
        return NULL;
    }
    return r;
}

void mg_capture_reader_close(mg_capture_reader *r) {
    if (!r) return;
    sqlite3_finalize(r->st);
    free(r);
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

int mg_capture_reader_get(mg_capture_reader *r, int64_t media_id, mg_capture *out) {
    memset(out, 0, sizeof *out);
    out->source = "";
    if (!r) return 0;
    sqlite3_stmt *st = r->st;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, media_id);
    int found = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            out->has_taken = 1;
            out->taken_local = sqlite3_column_int64(st, 0);
        }
        if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            out->has_tz = 1;
            out->tz_min = sqlite3_column_int(st, 1);
        }
        if (sqlite3_column_type(st, 2) != SQLITE_NULL && sqlite3_column_type(st, 3) != SQLITE_NULL) {
            out->has_gps = 1;
            out->lat = sqlite3_column_double(st, 2);
            out->lon = sqlite3_column_double(st, 3);
        }
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
            out->has_alt = 1;
            out->alt = sqlite3_column_double(st, 4);
        }
        col_text(st, 5, out->make, sizeof out->make);
        col_text(st, 6, out->model, sizeof out->model);
        col_text(st, 7, out->lens, sizeof out->lens);
        out->orientation = sqlite3_column_int(st, 8);
    }
    sqlite3_reset(st);
    return found;
}
