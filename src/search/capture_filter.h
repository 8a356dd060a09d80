/*
 * capture_filter.h - search filters on what files say about their capture
 * (store/captures.h): taken after / before a date (the photo's own
 * wall-clock date, not the file's mtime), near a place (great-circle
 * distance on a 6371.0088 km sphere), camera and lens (case-insensitive
 * substrings of "make model" and of the lens name). A file that lacks the
 * field a filter asks about is excluded and counted apart.
 *
 * Threading: a reader belongs to one thread (it holds a prepared statement
 * of the caller's catalog connection).
 */
#ifndef MG_CAPTURE_FILTER_H
#define MG_CAPTURE_FILTER_H

#include <sqlite3.h>
#include "media/capture.h"

typedef struct mg_capture_filter {
    int has_after, has_before;
    int64_t taken_after, taken_before;  /* local wall-clock seconds (as if UTC): after <= taken < before */
    int near;                           /* 1: lat/lon/radius_km apply */
    double lat, lon, radius_km;
    const char *camera;                 /* substring of "make model"; NULL/"" = any */
    const char *lens;                   /* substring of the lens; NULL/"" = any */
} mg_capture_filter;

/* 1 when any filter is set. */
int mg_capture_filter_active(const mg_capture_filter *f);

/* 1: c passes; 0: it fails on a value; -1: it lacks a field a filter needs. */
int mg_capture_filter_match(const mg_capture_filter *f, const mg_capture *c);

/* Great-circle distance in km. */
double mg_capture_distance_km(double lat1, double lon1, double lat2, double lon2);

/* "48.8584,2.2945" (also with spaces or a semicolon): 0 and lat/lon, or -1. */
int mg_capture_parse_latlon(const char *s, double *lat, double *lon);

/* A cached reader of capture rows from a catalog connection. */
typedef struct mg_capture_reader mg_capture_reader;
/* NULL (no error) when the catalog has no capture table (schema < 4). */
mg_capture_reader *mg_capture_reader_open(sqlite3 *db);
void mg_capture_reader_close(mg_capture_reader *r);
/* 1 and *out when media_id has a current row; 0 when none (out cleared). */
int mg_capture_reader_get(mg_capture_reader *r, int64_t media_id, mg_capture *out);
#endif
