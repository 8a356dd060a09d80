/*
 * progress.c - terminal bar / plain lines for long runs (see progress.h).
 */
#include "pipeline/progress.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"

struct mg_progress {
    FILE *out;
    int mode;
    double interval, last;
    int bar_shown;
    mg_progress_state prev; /* for the recent rate */
    double prev_t;
    double rate;            /* smoothed frames/s */
};

mg_progress *mg_progress_open(FILE *out, int mode, double line_interval_s) {
    mg_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->out = out ? out : stderr;
    if (mode == MG_PROGRESS_AUTO) mode = isatty(fileno(p->out)) ? MG_PROGRESS_BAR : MG_PROGRESS_LINES;
    p->mode = mode;
    p->interval = mode == MG_PROGRESS_BAR ? 0.2 : (line_interval_s > 0 ? line_interval_s : 10);
    p->last = mg_now();
    p->prev_t = p->last;
    return p;
}

const char *mg_format_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, cap, "?");
        return buf;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

void mg_progress_update(mg_progress *p, const mg_progress_state *s, int force) {
    if (!p || p->mode == MG_PROGRESS_QUIET) return;
    double now = mg_now();
    if (!force && now - p->last < p->interval) return;
    double dt = now - p->prev_t;
    if (dt > 0.5) { /* recent rate, smoothed */
        double r = (double)(s->frames - p->prev.frames) / dt;
        p->rate = p->rate > 0 ? 0.7 * p->rate + 0.3 * r : r;
        p->prev = *s;
        p->prev_t = now;
    }
    double file_rate = s->elapsed_s > 0 ? (double)s->files_done / s->elapsed_s : 0;
    char eta[32] = "?", el[32];
    if (s->walk_done && file_rate > 0) {
        mg_format_duration((double)(s->files_found - s->files_done) / file_rate, eta, sizeof eta);
    } else if (s->media_total > 0 && s->media_walked > 0 && s->elapsed_s > 1) {
        /* the walk moves in step with the work (its queue is bounded), so
         * its share of the counted files estimates the share done */
        double done = (double)(s->media_walked - (s->files_found - s->files_done)); /* minus files in flight */
        double f = done / (double)s->media_total;
        if (f > 0 && f <= 1) mg_format_duration(s->elapsed_s * (1 - f) / f, eta, sizeof eta);
    }
    mg_format_duration(s->elapsed_s, el, sizeof el);
    char extra[256] = "";
    for (int i = 0, o = 0; i < s->n_extra && i < 4 && o < (int)sizeof extra - 64; i++)
        o += snprintf(extra + o, sizeof extra - (size_t)o, "%s%s %lld (%.1f/s, queue %d)", p->mode == MG_PROGRESS_BAR ? "  " : ", ",
                      s->extra[i].name, (long long)s->extra[i].items,
                      s->elapsed_s > 0 ? (double)s->extra[i].items / s->elapsed_s : 0.0, s->extra[i].depth);
    if (s->ranks > 1) {
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, "%s%d ranks (%d working)", p->mode == MG_PROGRESS_BAR ? "  " : ", ",
                 s->ranks, s->ranks_working);
    }
    char total[32];
    snprintf(total, sizeof total, s->walk_done ? "%lld" : "%lld+", (long long)s->files_found);
    if (p->mode == MG_PROGRESS_BAR) {
        char bar[23];
        int fill = s->walk_done && s->files_found > 0 ? (int)(20 * s->files_done / s->files_found)
                   : s->media_total > 0 ? (int)(20 * s->media_walked / s->media_total) : 0;
        if (fill > 20) fill = 20;
        for (int i = 0; i < 20; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[20] = 0;
        char errs[48] = "";
        if (s->files_failed) snprintf(errs, sizeof errs, "  %lld errors", (long long)s->files_failed);
        fprintf(p->out, "\r\033[K[%s] %lld/%s files  %lld frames  %.1f frames/s%s  %s  ETA %s%s", bar,
                (long long)s->files_done, total, (long long)s->frames, p->rate, extra, el, eta, errs);
        p->bar_shown = 1;
    } else {
        fprintf(p->out, "index: %lld/%s files, %lld frames, %.1f frames/s%s, %lld errors, elapsed %s, ETA %s\n",
                (long long)s->files_done, total, (long long)s->frames, p->rate, extra, (long long)s->files_failed, el,
                eta);
    }
    fflush(p->out);
    p->last = now;
}

void mg_progress_note(mg_progress *p, const char *fmt, ...) {
    if (!p || p->mode == MG_PROGRESS_QUIET) return;
    if (p->bar_shown) fprintf(p->out, "\r\033[K");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    p->last = 0; /* redraw the bar at the next update */
    fflush(p->out);
}

void mg_progress_close(mg_progress *p) {
    if (!p) return;
    if (p->bar_shown) fputc('\n', p->out);
    fflush(p->out);
    free(p);
}
