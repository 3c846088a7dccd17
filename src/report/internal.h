/*
 * Internal to src/report/: HTML text (html.c), the charts (chart.c) and the
 * page (report.c) share these. Every string from the manifest reaches the
 * page through pf_report_text() or pf_report_attr().
 */
#ifndef PF_REPORT_INTERNAL_H
#define PF_REPORT_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Points of one memory curve read from a manifest (more are ignored). */
#define PF_REPORT_MAX_POINTS 4096
#define PF_REPORT_MAX_PHASES 64

/* Escaped text (& < > " ' and control characters) of s into b; NULL is "-". */
void pf_report_text(pf_buf *b, const char *s);
/* The string `key` of obj, or NULL when absent or not a string. */
const char *pf_report_str(const cJSON *obj, const char *key);
/* The number `key` of obj as a finite non-negative double, or `dflt`. */
double pf_report_num(const cJSON *obj, const char *key, double dflt);
/* "1.5 GiB", "830 MiB", "12 KiB", "512 B" into b. */
void pf_report_size(pf_buf *b, double bytes);
/* "1.2 s", "3 min 4 s" into b. */
void pf_report_duration(pf_buf *b, double ms);

/* The SVG of one step's memory curve (step object of the manifest); false when it has no series. */
bool pf_report_memory_chart(pf_buf *b, const cJSON *step, size_t index);
/* The SVG bar of an artifact's size against its max_size/min_size gates. */
void pf_report_size_chart(pf_buf *b, const cJSON *artifact);

#endif
