/*
 * Download progress on stderr: on a terminal one line (current file, total,
 * rate, ETA) redrawn in place about five times a second; in CI logs plain
 * lines every few seconds or each 10% so logs stay short. Driven by the
 * transfer loop's ticks; --quiet turns it off.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hub/hub_net.h"
#include "util/log.h"

void pf_hub_progress_init(pf_hub_progress *p, bool enabled)
{
	memset(p, 0, sizeof(*p));
	p->enabled = enabled && !pf_log_quiet();
	p->tty = isatty(STDERR_FILENO) == 1;
	p->start_ms = pf_hub_now_ms();
	p->last_ms = p->start_ms;
}

static void human(char *out, size_t n, double bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (bytes >= 1024.0 && u < 4) {
		bytes /= 1024.0;
		u++;
	}
	snprintf(out, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void line(pf_hub_progress *p, char *out, size_t n)
{
	uint64_t now = pf_hub_now_ms();
	double secs = (double)(now - p->start_ms) / 1000.0;
	double rate = secs > 0.05 ? (double)p->done_bytes / secs : 0.0;
	char done[32], total[32], r[32], cur[32], cur_total[32], eta[32] = "-";
	human(done, sizeof(done), (double)p->done_bytes);
	human(total, sizeof(total), (double)p->total_bytes);
	human(r, sizeof(r), rate);
	human(cur, sizeof(cur), (double)p->current_done);
	human(cur_total, sizeof(cur_total), (double)p->current_size);
	if (rate > 0 && p->total_bytes > p->done_bytes)
		snprintf(eta, sizeof(eta), "%.0fs", (double)(p->total_bytes - p->done_bytes) / rate);
	snprintf(out, n, "[%zu/%zu files] %s/%s  %s/s  eta %s  %.40s %s/%s", p->n_done, p->n_files, done, total, r, eta,
	         p->current ? p->current : "", cur, cur_total);
}

void pf_hub_progress_tick(pf_hub_progress *p, bool force)
{
	uint64_t now;
	char buf[256];
	int decile;
	if (!p->enabled)
		return;
	now = pf_hub_now_ms();
	decile = p->total_bytes ? (int)(p->done_bytes * 10 / p->total_bytes) : 0;
	if (p->tty) {
		if (!force && now - p->last_ms < 200)
			return;
		line(p, buf, sizeof(buf));
		fprintf(stderr, "\r\033[Kpteflow: %s", buf);
		fflush(stderr);
		p->drawn = true;
	} else {
		if (!force && now - p->last_ms < 5000 && decile <= p->last_decile)
			return;
		line(p, buf, sizeof(buf));
		pf_log_info("%s", buf);
	}
	p->last_decile = decile;
	p->last_ms = now;
}

void pf_hub_progress_end(pf_hub_progress *p)
{
	char done[32];
	double secs;
	if (!p->enabled)
		return;
	if (p->tty && p->drawn)
		fputs("\r\033[K", stderr);
	secs = (double)(pf_hub_now_ms() - p->start_ms) / 1000.0;
	human(done, sizeof(done), (double)p->done_bytes);
	pf_log_info("%zu file(s): %zu downloaded (%s) in %.1fs, %zu already cached", p->n_done, p->n_done - p->n_cached,
	            done, secs, p->n_cached);
}
