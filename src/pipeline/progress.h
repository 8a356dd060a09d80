/*
 * progress.h - what a long run shows while it works: on a terminal a
 * one-line bar redrawn in place (files, frames, items/s, ETA, errors); when
 * not a terminal, a plain line every few seconds; nothing when quiet. Notes
 * (per-file errors) print on their own lines without breaking the bar.
 *
 * Threading: one thread calls update/note/close (the indexer's monitor).
 */
#ifndef MG_PROGRESS_H
#define MG_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct mg_progress mg_progress;

typedef struct mg_progress_state {
    int64_t files_found;    /* files the walk found to encode so far */
    int walk_done;          /* files_found is final */
    int64_t media_walked;   /* media files the walk has passed (new, changed or unchanged) */
    int64_t media_total;    /* media files under the roots, from a counting pass; 0 = not known yet */
    int64_t files_done;     /* written (ok + failed) */
    int64_t files_failed;
    int64_t frames;         /* samples encoded */
    int64_t items;          /* vectors written */
    double elapsed_s;
    /* analyzers other than the image encoder (OCR...): shown after the frames */
    int n_extra;
    struct {
        char name[16];
        int64_t items;      /* samples analyzed */
        int depth;          /* its queue now */
        double busy_s;
    } extra[4];
    int ranks, ranks_working; /* a distributed run: its ranks, and those that have not ended */
} mg_progress_state;

enum { MG_PROGRESS_QUIET = 0, MG_PROGRESS_AUTO = 1, MG_PROGRESS_LINES = 2, MG_PROGRESS_BAR = 3 };

/* mode AUTO picks BAR when out is a terminal, else LINES. NULL on ENOMEM. */
mg_progress *mg_progress_open(FILE *out, int mode, double line_interval_s);
/* Redraws (bar: at most 5 times a second; lines: every interval) or, with
 * force, now. */
void mg_progress_update(mg_progress *p, const mg_progress_state *s, int force);
/* Prints a message line (a newline is added). */
void mg_progress_note(mg_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the bar line; NULL is a no-op. */
void mg_progress_close(mg_progress *p);

/* "1:02:03" / "2:05" formatting of seconds into buf. */
const char *mg_format_duration(double s, char *buf, size_t cap);

#endif
