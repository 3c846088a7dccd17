/*
 * Memory guards for one step's process tree, for src/proc/ (one guard per
 * step run): a cgroup v2 or v1 memory group with a hard limit and no swap,
 * an rlimit backstop, and the RSS watchdog that sums the resident memory of
 * every descendant and kills the tree when the sum crosses the limit (a sum
 * above it is checked again with PSS, see guard.h). Also
 * admission (is there room to start?) and the peak figure of the verdict.
 *
 * Where the cgroups go and how they are made: cgroup_place.c and cgroup.c;
 * admission: admit.c.
 * the same pid was killed) are stepped over.
 *
 * Workload: one guard at a time; the watchdog samples every 1-20 ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/internal.h"
#include "guard/tree.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

uint64_t pf_guard_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}


/* ---- modes ---- */

const char *pf_guard_mode_name(pf_guard_mode mode)
{
	switch (mode) {
	case PF_GUARD_AUTO:
		return "auto";
	case PF_GUARD_CGROUP2:
		return "cgroup2";
	case PF_GUARD_CGROUP1:
		return "cgroup1";
	case PF_GUARD_RLIMIT:
		return "rlimit";
	case PF_GUARD_WATCHDOG:
		return "watchdog";
	case PF_GUARD_NONE:
		return "none";
	}
	return "unknown";
}

int pf_guard_mode_parse(pf_guard_mode *out, const char *text)
{
	static const pf_guard_mode all[] = {PF_GUARD_AUTO,   PF_GUARD_CGROUP2,  PF_GUARD_CGROUP1,
	                                    PF_GUARD_RLIMIT, PF_GUARD_WATCHDOG, PF_GUARD_NONE};
	for (size_t i = 0; text && i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(text, pf_guard_mode_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return pf_error_code(PF_EINVALID,
	                     "memory guard \"%s\" is unknown: use auto, cgroup2, cgroup1, rlimit, watchdog or none",
	                     text ? text : "");
}

pf_guard_mode pf_guard_detect(void)
{
	for (int v = 2; v >= 1; v--) {
		pf_guard_cg_prep prep;
		char *why = NULL, *dir = pf_guard_cg_place(v, &prep, &why);
		free(why);
		if (dir) {
			free(dir);
			return v == 2 ? PF_GUARD_CGROUP2 : PF_GUARD_CGROUP1;
		}
	}
	return PF_GUARD_WATCHDOG;
}

uint64_t pf_guard_rlimit_as_bytes(uint64_t limit_bytes)
{
	uint64_t a, b;
	if (pf_mul_overflow(limit_bytes, 4, &a))
		a = UINT64_MAX;
	if (pf_add_overflow(limit_bytes, 16ULL << 30, &b))
		b = UINT64_MAX;
	return a > b ? a : b;
}

static int setup_mode(pf_guard *g, pf_guard_mode mode)
{
	g->mode = mode;
	switch (mode) {
	case PF_GUARD_CGROUP2:
		return pf_guard_cg_create(g, 2);
	case PF_GUARD_CGROUP1:
		return pf_guard_cg_create(g, 1);
	case PF_GUARD_RLIMIT:
		if (g->limit_bytes)
			g->rlimit_as = pf_guard_rlimit_as_bytes(g->limit_bytes);
		g->watchdog = g->limit_bytes > 0;
		g->measure_tree = true;
		return 0;
	case PF_GUARD_WATCHDOG:
		g->watchdog = g->limit_bytes > 0;
		g->measure_tree = true;
		return 0;
	case PF_GUARD_AUTO:
	case PF_GUARD_NONE:
	default:
		g->mode = PF_GUARD_NONE;
		g->limit_bytes = 0;
		g->measure_tree = true;
		return 0;
	}
}

int pf_guard_new(pf_guard **out, pf_guard_mode mode, uint64_t limit_bytes)
{
	static bool warned[PF_GUARD_NONE + 1];
	pf_guard *g = pf_xcalloc(1, sizeof(*g));
	int rc;
	g->slot = -1;
	g->limit_bytes = limit_bytes;
	g->interval_ms = 20;
	if (mode != PF_GUARD_AUTO) {
		rc = setup_mode(g, mode);
	} else {
		/*
		 * pf_guard_detect() only probes (it writes nothing), so a cgroup it picks
		 * can still fail here (mkdir refused, a control file missing): take the
		 * next mechanism and say why, rather than fail the step.
		 */
		mode = pf_guard_detect();
		while ((rc = setup_mode(g, mode)) != 0 && (mode == PF_GUARD_CGROUP2 || mode == PF_GUARD_CGROUP1)) {
			char *v1 = mode == PF_GUARD_CGROUP2 ? pf_guard_cgroup_parent(PF_GUARD_CGROUP1) : NULL;
			pf_guard_mode next = v1 ? PF_GUARD_CGROUP1 : PF_GUARD_WATCHDOG;
			free(v1);
			snprintf(g->fallback, sizeof(g->fallback), "%s could not be set up (%s)",
			         pf_guard_mode_name(mode), pf_error_last());
			if (!warned[mode])
				pf_log_warn("memory guard %s could not be set up, using %s: %s",
				            pf_guard_mode_name(mode), pf_guard_mode_name(next), pf_error_last());
			warned[mode] = true;
			mode = next;
		}
	}
	if (rc != 0) {
		free(g);
		g = NULL;
	}
	*out = g;
	return rc;
}

int pf_guard_child_enter(pf_guard *g)
{
	if (!g)
		return 0;
	if (g->procs_path[0]) {
		char num[24];
		pf_guard_u64_to_dec(num, (uint64_t)getpid());
		int rc = pf_guard_write_str(g->procs_path, num);
		if (rc != 0)
			return rc;
	}
	if (g->rlimit_as) {
		struct rlimit rl = {(rlim_t)g->rlimit_as, (rlim_t)g->rlimit_as};
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			return -errno;
	}
	return 0;
}

int pf_guard_parent_attach(pf_guard *g, pid_t pid)
{
	if (!g)
		return 0;
	g->pid = pid;
	g->start_ns = pf_guard_mono_ns();
	g->next_ns = g->start_ns;
	g->series_next_ns = g->start_ns;
	g->series.from_cgroup = g->version > 0;
	g->seen[g->n_seen++] = pid;
	return 0;
}

static void remember(pf_guard *g, pid_t pid)
{
	for (size_t i = 0; i < g->n_seen; i++)
		if (g->seen[i] == pid)
			return;
	if (g->n_seen < SEEN_MAX)
		g->seen[g->n_seen++] = pid;
}

/*
 * Sum of the resident memory of the whole tree; *n_procs receives the live
 * count. With `pss`, each process counts its proportional share of the
 * pages it shares (copy-on-write after fork, shared memory), so a shared
 * page counts once in all instead of once per process; a process whose PSS
 * cannot be read counts its RSS.
 */
static uint64_t tree_sum(pf_guard *g, size_t *n_procs, bool pss)
{
	pid_t *pids = NULL, *parents = NULL, self = getpid();
	size_t n = pf_guard_tree_collect(&pids, &parents);
	uint64_t sum = 0;
	*n_procs = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t r, share;
		if (pids[i] == g->supervisor)
			continue;
		r = pf_guard_tree_rss_bytes(pids[i]);
		remember(g, pids[i]);
		if (r && parents[i] != self && parents[i] != g->supervisor && pf_guard_tree_same_mm(pids[i], parents[i]))
			continue;
		if (r && pss && pf_guard_tree_pss_bytes(pids[i], &share))
			r = share;
		if (r) {
			sum += r;
			(*n_procs)++;
		}
	}
	free(pids);
	free(parents);
	return sum;
}

static int next_interval(pf_guard *g, uint64_t now, uint64_t sum)
{
	int ms;
	if (!g->watchdog)
		return 100;
	if (sum < g->limit_bytes / 2)
		ms = 20;
	else if (sum < g->limit_bytes / 4 * 3)
		ms = 10;
	else if (sum < g->limit_bytes / 10 * 9)
		ms = 4;
	else
		ms = 1;
	/* growing fast: sample again before half the remaining room is gone */
	if (g->last_ns && now > g->last_ns && sum > g->last_sum && sum < g->limit_bytes) {
		double rate = (double)(sum - g->last_sum) / (double)(now - g->last_ns); /* bytes/ns */
		double hit_ms = (double)(g->limit_bytes - sum) / rate / 1e6;
		if (hit_ms / 2 < ms)
			ms = hit_ms / 2 < 1 ? 1 : (int)(hit_ms / 2);
	}
	return ms;
}

static bool guarding(const pf_guard *g)
{
	return g->watchdog || g->measure_tree || g->sample_cgroup || g->watch_oom;
}

static int guard_interval_ms(const pf_guard *g)
{
	if (!guarding(g))
		return -1;
	if (!g->watchdog && !g->measure_tree)
		return 20;
	return g->interval_ms;
}

int pf_guard_poll_interval_ms(const pf_guard *g)
{
	int ms;
	if (!g)
		return -1;
	ms = guard_interval_ms(g);
	if (g->series.interval_ms && g->pid > 0) {
		uint64_t now = pf_guard_mono_ns(), left_ms = 0;
		if (g->series_next_ns > now)
			left_ms = (g->series_next_ns - now + 999999ULL) / 1000000ULL;
		if (ms < 0 || left_ms < (uint64_t)ms)
			ms = (int)left_ms;
	}
	return ms;
}

/*
 * true once the kernel OOM-killed a process in the guard's cgroup (v2
 * memory.events, v1 memory.oom_control), or the v1 group is stuck at its
 * limit with the OOM killer disabled (under_oom). Without memory.oom.group
 * (v1, or v2 before 4.19) the kernel kills one process and the rest of the
 * step would carry on: the caller stops the whole tree, as the watchdog does.
 */
static bool cg_oom_seen(pf_guard *g)
{
	char *f = pf_guard_cg_file(g->cg_dir, g->version == 2 ? "memory.events" : "memory.oom_control");
	uint64_t kills = 0, under = 0;
	(void)pf_guard_read_keyed(f, "oom_kill", &kills);
	if (g->version == 1)
		(void)pf_guard_read_keyed(f, "under_oom", &under);
	free(f);
	return kills > 0 || under > 0;
}

void pf_guard_set_sampling(pf_guard *g, uint32_t interval_ms)
{
	if (g)
		pf_series_init(&g->series, interval_ms);
}

static uint32_t since_start_ms(const pf_guard *g, uint64_t now)
{
	uint64_t ms = now > g->start_ns ? (now - g->start_ns) / 1000000ULL : 0;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/*
 * The series (pf_guard_set_sampling): every tree sum this poll `measured`
 * goes in (a bucket keeps its largest), and when a sample is due, the
 * cgroup's usage (memory.current, v1 memory.usage_in_bytes: page cache
 * included, as the cgroup's peak figure) or a fresh tree sum.
 */
static void sample_series(pf_guard *g, uint64_t now, bool measured, uint64_t sum)
{
	size_t n_procs;
	if (!g->series.interval_ms)
		return;
	if (measured && !g->version)
		pf_series_add(&g->series, since_start_ms(g, now), sum);
	if (now < g->series_next_ns)
		return;
	g->series_next_ns = now + (uint64_t)g->series.interval_ms * 1000000ULL;
	if (g->version) {
		char *f = pf_guard_cg_file(g->cg_dir, g->version == 2 ? "memory.current" : "memory.usage_in_bytes");
		uint64_t cur;
		if (pf_guard_read_u64(f, &cur))
			pf_series_add(&g->series, since_start_ms(g, now), cur);
		free(f);
	} else if (!measured) {
		pf_series_add(&g->series, since_start_ms(g, now), tree_sum(g, &n_procs, false));
	}
}

bool pf_guard_poll(pf_guard *g)
{
	uint64_t now, sum = 0;
	size_t n_procs = 0;
	bool measured = false;
	if (!g || g->pid <= 0 || (!guarding(g) && !g->series.interval_ms))
		return false;
	now = pf_guard_mono_ns();
	if (!guarding(g) || now < g->next_ns) {
		sample_series(g, now, false, 0);
		return false;
	}
	g->samples++;
	if (g->sample_cgroup) {
		char *f = pf_guard_cg_file(g->cg_dir, "memory.current");
		uint64_t cur;
		if (pf_guard_read_u64(f, &cur) && cur > g->cg_sampled_peak)
			g->cg_sampled_peak = cur;
		free(f);
	}
	if (g->watch_oom && cg_oom_seen(g)) {
		g->oom_fired = true;
		return true;
	}
	if (g->watchdog || g->measure_tree) {
		bool pss = false;
		uint64_t t0 = 0;
		sum = tree_sum(g, &n_procs, false);
		if (g->watchdog && g->limit_bytes && sum > g->limit_bytes) {
			/* RSS is an upper bound of PSS: pay for the page-table walk of PSS only above the limit */
			t0 = pf_guard_mono_ns();
			sum = tree_sum(g, &n_procs, true);
			g->pss_cost_ns = pf_guard_mono_ns() - t0;
			g->pss_checks++;
			pss = true;
		}
		if (sum > g->tree_peak)
			g->tree_peak = sum;
		g->interval_ms = next_interval(g, now, sum);
		/* a PSS walk costs ~4 ms per GiB resident: keep it under a fifth of one CPU */
		if (pss && g->pss_cost_ns * 4 / 1000000ULL > (uint64_t)g->interval_ms)
			g->interval_ms = (int)(g->pss_cost_ns * 4 / 1000000ULL);
		g->last_ns = now;
		g->last_sum = sum;
		measured = true;
	}
	g->next_ns = now + (uint64_t)g->interval_ms * 1000000ULL;
	sample_series(g, now, measured, sum);
	if (g->watchdog && g->limit_bytes && sum > g->limit_bytes) {
		g->fired = true;
		g->fired_procs = n_procs;
		return true;
	}
	return false;
}

void pf_guard_kill_all(pf_guard *g)
{
	if (g && g->cg_dir[0])
		(void)pf_guard_cg_kill_members(g->cg_dir);
}

void pf_guard_set_supervisor(pf_guard *g, pid_t pid)
{
	if (g)
		g->supervisor = pid;
}

size_t pf_guard_signal_tree(pf_guard *g, pid_t pgid, int sig)
{
	pid_t *pids = NULL, self = getpid();
	size_t n, live = 0;
	if (pgid > 0)
		(void)kill(-pgid, sig);
	n = pf_guard_tree_collect(&pids, NULL);
	for (size_t i = 0; i < n; i++) {
		pf_guard_tree_stat_info st;
		if ((g && g->supervisor > 0 && pids[i] == g->supervisor) || pf_guard_tree_stat(pids[i], &st) != 0)
			continue;
		if (g)
			remember(g, pids[i]);
		if (st.state == 'Z' || st.state == 'X') {
			/* an orphan that came back to us (subreaper): reap it; the step's own pid is reaped by wait4 */
			if (st.ppid == self && (!g || pids[i] != g->pid))
				(void)waitpid(pids[i], NULL, WNOHANG);
			continue;
		}
		if (kill(pids[i], sig) == 0)
			live++;
	}
	free(pids);
	if (g && g->cg_dir[0]) {
		char buf[64];
		if (sig == SIGKILL) {
			live += pf_guard_cg_kill_members(g->cg_dir);
		} else if (pf_guard_tree_read_small(g->procs_path, buf, sizeof(buf)) > 0) {
			/* members outside our tree would be a surprise; the SIGKILL round takes them */
			live++;
		}
	}
	return live;
}

const char *pf_guard_cgroup_path(const pf_guard *g)
{
	return g ? g->cg_dir : "";
}

/* ---- the verdict ---- */

/* Look for kernel OOM-killer lines about a pid of this step in /dev/kmsg (when readable). */
static bool kmsg_oom_evidence(const pf_guard *g, char *detail, size_t cap)
{
	char rec[2048];
	uint64_t since_us = g->start_ns / 1000 > 1000000 ? g->start_ns / 1000 - 1000000 : 0;
	bool found = false;
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		char *semi, *p, *ts;
		uint64_t ts_us;
		if (n < 0 && errno == EPIPE)
			continue; /* overwritten records */
		if (n <= 0)
			break;
		rec[n] = '\0';
		semi = strchr(rec, ';');
		if (!semi)
			continue;
		/* "pri,seq,ts_usec,flags;msg" */
		ts = strchr(rec, ',');
		ts = ts ? strchr(ts + 1, ',') : NULL;
		if (!ts)
			continue;
		ts_us = strtoull(ts + 1, NULL, 10);
		if (ts_us < since_us)
			continue;
		p = strstr(semi, "Killed process ");
		if (!p)
			continue;
		pid_t pid = (pid_t)strtol(p + 15, NULL, 10);
		for (size_t i = 0; i < g->n_seen; i++) {
			if (g->seen[i] == pid) {
				char *nl = strchr(semi + 1, '\n');
				if (nl)
					*nl = '\0';
				snprintf(detail, cap, "kernel OOM killer (kmsg: %.180s)", semi + 1);
				found = true;
			}
		}
	}
	close(fd);
	return found;
}

void pf_guard_finish(pf_guard *g, uint64_t rusage_maxrss_bytes, int term_signal, pf_guard_report *out)
{
	memset(out, 0, sizeof(*out));
	if (!g) {
		out->mode = PF_GUARD_NONE;
		out->peak_bytes = rusage_maxrss_bytes;
		return;
	}
	out->mode = g->mode;
	out->limit_bytes = g->limit_bytes;
	if (g->version == 1) {
		char *f = pf_guard_cg_file(g->cg_dir, "memory.max_usage_in_bytes");
		uint64_t failcnt = 0, under = 0;
		bool have_kill;
		if (pf_guard_read_u64(f, &out->peak_bytes))
			out->peak_from_cgroup = true;
		free(f);
		f = pf_guard_cg_file(g->cg_dir, "memory.failcnt");
		(void)pf_guard_read_u64(f, &failcnt);
		free(f);
		f = pf_guard_cg_file(g->cg_dir, "memory.oom_control");
		have_kill = pf_guard_read_keyed(f, "oom_kill", &out->oom_kills);
		(void)pf_guard_read_keyed(f, "under_oom", &under);
		free(f);
		out->memory_kill = out->oom_kills > 0 || g->oom_fired ||
		                   (!have_kill && term_signal == SIGKILL && g->limit_bytes && failcnt > 0);
		snprintf(out->detail, sizeof(out->detail),
		         "cgroup1 memory.oom_control oom_kill %" PRIu64 "%s, memory.failcnt %" PRIu64, out->oom_kills,
		         under || (g->oom_fired && !out->oom_kills) ? ", under_oom (OOM killer disabled)" : "",
		         failcnt);
	} else if (g->version == 2) {
		char *f = pf_guard_cg_file(g->cg_dir, g->has_peak_file ? "memory.peak" : "memory.current");
		uint64_t ooms = 0, group_kills = 0;
		if (g->has_peak_file && pf_guard_read_u64(f, &out->peak_bytes))
			out->peak_from_cgroup = true;
		else
			out->peak_bytes = g->cg_sampled_peak;
		free(f);
		f = pf_guard_cg_file(g->cg_dir, "memory.events");
		(void)pf_guard_read_keyed(f, "oom_kill", &out->oom_kills);
		(void)pf_guard_read_keyed(f, "oom", &ooms);
		(void)pf_guard_read_keyed(f, "oom_group_kill", &group_kills); /* Linux >= 5.17 */
		free(f);
		out->memory_kill = out->oom_kills > 0 || g->oom_fired || (term_signal == SIGKILL && ooms > 0);
		snprintf(out->detail, sizeof(out->detail),
		         "cgroup2 memory.events oom %" PRIu64 " oom_kill %" PRIu64 " oom_group_kill %" PRIu64 "%s",
		         ooms, out->oom_kills, group_kills,
		         g->has_peak_file ? "" : ", peak sampled from memory.current");
	} else if (g->fired) {
		snprintf(out->detail, sizeof(out->detail),
		         "watchdog: resident memory of %zu processes crossed the limit (by PSS where readable; %lu "
		         "samples)%s",
		         g->fired_procs, g->samples, g->rlimit_as ? "; RLIMIT_AS backstop was set" : "");
	} else if (g->mode == PF_GUARD_RLIMIT) {
		snprintf(out->detail, sizeof(out->detail),
		         "rlimit: RLIMIT_AS %" PRIu64
		         " MiB as a backstop; the RSS watchdog enforces the limit (%lu samples)",
		         g->rlimit_as >> 20, g->samples);
	} else if (g->measure_tree) {
		snprintf(out->detail, sizeof(out->detail), "%s: tree resident memory sampled %lu times%s",
		         g->mode == PF_GUARD_NONE ? "no guard" : "watchdog", g->samples,
		         g->pss_checks ? " (shared pages above the limit counted once, by PSS)" : "");
	}
	if (g->fired) {
		out->watchdog_fired = true;
		out->memory_kill = true;
	}
	if (!out->peak_from_cgroup) {
		if (g->tree_peak > out->peak_bytes)
			out->peak_bytes = g->tree_peak;
		if (rusage_maxrss_bytes > out->peak_bytes)
			out->peak_bytes = rusage_maxrss_bytes;
	}
	if (!out->memory_kill && term_signal == SIGKILL) {
		char ev[256];
		if (kmsg_oom_evidence(g, ev, sizeof(ev))) {
			out->memory_kill = true;
			memcpy(out->detail, ev, sizeof(ev) < sizeof(out->detail) ? sizeof(ev) : sizeof(out->detail));
			out->detail[sizeof(out->detail) - 1] = '\0';
		}
	}
	out->series = g->series;
	pf_series_settle(&out->series, out->peak_bytes, since_start_ms(g, pf_guard_mono_ns()));
	if (g->fallback[0]) {
		size_t used = strlen(out->detail);
		snprintf(out->detail + used, sizeof(out->detail) - used, "%s%s", used ? "; " : "", g->fallback);
	}
}

void pf_guard_free(pf_guard *g)
{
	if (!g)
		return;
	pf_guard_cg_release(g);
	free(g);
}
