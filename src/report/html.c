/*
 * HTML text for the report (internal.h): escaping, and the typed reads of
 * manifest fields every part of the page goes through. Workload: a page of
 * a few hundred KiB at most.
 */
#include <math.h>
#include <stdio.h>

#include "report/internal.h"

void pf_report_text(pf_buf *b, const char *s)
{
	if (!s) {
		(void)pf_buf_puts(b, "-");
		return;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&': (void)pf_buf_puts(b, "&amp;"); break;
		case '<': (void)pf_buf_puts(b, "&lt;"); break;
		case '>': (void)pf_buf_puts(b, "&gt;"); break;
		case '"': (void)pf_buf_puts(b, "&quot;"); break;
		case '\'': (void)pf_buf_puts(b, "&#39;"); break;
		default:
			if (c < 0x20 && c != '\n' && c != '\t')
				(void)pf_buf_puts(b, "\xef\xbf\xbd"); /* U+FFFD */
			else
				(void)pf_buf_append(b, s, 1);
		}
	}
}

const char *pf_report_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double pf_report_num(const cJSON *obj, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 1e18)
		return dflt;
	return v->valuedouble;
}

void pf_report_size(pf_buf *b, double bytes)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t u = 0;
	while (bytes >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024.0;
		u++;
	}
	(void)pf_buf_printf(b, u >= 3 ? "%.2f %s" : "%.0f %s", bytes, units[u]);
}

void pf_report_duration(pf_buf *b, double ms)
{
	if (ms < 60000.0)
		(void)pf_buf_printf(b, "%.1f s", ms / 1000.0);
	else
		(void)pf_buf_printf(b, "%.0f min %.0f s", floor(ms / 60000.0), fmod(ms, 60000.0) / 1000.0);
}
