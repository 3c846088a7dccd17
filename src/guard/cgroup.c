/*
 * The cgroup side of the memory guards (v1 and v2): creating a step's
 * group with its limit, killing its members, removing it, and the registry
 * of every group this pteflow created (pf_guard_cleanup_all() empties it
 * from a fatal-signal path, so the helpers at the top are async-signal-safe).
 * Where the groups go is decided in cgroup_place.c. One group per step run.
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

#include <dirent.h>

/*
 * Step groups are named "pteflow-<pid>-<start>-<n>": the pid and start
 * time of the pteflow that made them (see pf_guard_tree_start_time), so a
 * later run can tell the groups of a run that is gone from those of a live
 * one, even when the pid was reused (pf_guard_remove_stale).
 */
#define CG_PREFIX "pteflow-"

/* Every cgroup pteflow created and has not removed yet, for pf_guard_cleanup_all(). */
static char cg_registry[MAX_CGROUPS][CG_PATH_MAX];
static volatile sig_atomic_t cg_used[MAX_CGROUPS];
static unsigned cg_counter;

/* ---- async-signal-safe helpers ---- */

size_t pf_guard_u64_to_dec(char *buf, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

/* pteflow's own start time, for the names of its groups (read once per process). */
static uint64_t own_start_time(void)
{
	static uint64_t start;
	static pid_t of;
	if (of != getpid() && pf_guard_tree_start_time(getpid(), &start) == 0)
		of = getpid();
	return start;
}

static size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* dst = a + b, bounded; false if it does not fit. */
static bool path_cat(char *dst, size_t cap, const char *a, const char *b)
{
	size_t la = str_len(a), lb = str_len(b);
	if (la + lb + 1 > cap)
		return false;
	memcpy(dst, a, la);
	memcpy(dst + la, b, lb + 1);
	return true;
}

int pf_guard_write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = str_len(s);
	ssize_t n;
	int err;
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	return (size_t)n == len ? 0 : -EIO;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * SIGKILL every member of a cgroup folder (cgroup.kill when present, Linux
 * >= 5.14, else each pid in cgroup.procs). Returns how many members were
 * still listed: a member killed by cgroup.kill stays listed until it is
 * gone, so callers loop until this is 0.
 */
size_t pf_guard_cg_kill_members(const char *dir)
{
	char path[CG_PATH_MAX + 32], buf[8192];
	ssize_t len;
	bool killed = path_cat(path, sizeof(path), dir, "/cgroup.kill") && pf_guard_write_str(path, "1") == 0;
	if (!path_cat(path, sizeof(path), dir, "/cgroup.procs") ||
	    (len = pf_guard_tree_read_small(path, buf, sizeof(buf))) <= 0)
		return 0;
	/* a cut list counts at least one more member, so callers come back */
	return pf_guard_tree_signal_listed(buf, (size_t)len == sizeof(buf) - 1, killed ? 0 : SIGKILL) +
	       ((size_t)len == sizeof(buf) - 1);
}

/* Kill the members and rmdir, retrying while the group drains (up to ~2 s). */
int pf_guard_cg_remove(const char *dir)
{
	for (int i = 0; i < 100; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		(void)pf_guard_cg_kill_members(dir);
		sleep_ms(i < 10 ? 2 : 20);
	}
	return -EBUSY;
}

void pf_guard_cleanup_all(void)
{
	for (int i = 0; i < MAX_CGROUPS; i++) {
		if (!cg_used[i])
			continue;
		(void)pf_guard_cg_kill_members(cg_registry[i]);
		if (pf_guard_cg_remove(cg_registry[i]) == 0)
			cg_used[i] = 0;
	}
}

/* ---- reading cgroup and /proc files ---- */

bool pf_guard_read_u64(const char *path, uint64_t *out)
{
	char buf[64], *end;
	unsigned long long v;
	if (pf_guard_tree_read_small(path, buf, sizeof(buf)) <= 0)
		return false;
	if (strncmp(buf, "max", 3) == 0) {
		*out = UINT64_MAX;
		return true;
	}
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (end == buf || errno)
		return false;
	*out = (uint64_t)v;
	return true;
}

/* Value of "key N" in a flat keyed file (memory.events, memory.oom_control). */
bool pf_guard_read_keyed(const char *path, const char *key, uint64_t *out)
{
	char buf[2048];
	size_t kl = strlen(key);
	char *line;
	if (pf_guard_tree_read_small(path, buf, sizeof(buf)) <= 0)
		return false;
	line = buf;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
			*out = strtoull(line + kl + 1, NULL, 10);
			return true;
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

char *pf_guard_cg_file(const char *dir, const char *name)
{
	return pf_xasprintf("%s/%s", dir, name);
}

bool pf_guard_file_exists_in(const char *dir, const char *name)
{
	char *p = pf_guard_cg_file(dir, name);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

/* Write `value` to the control file `name` of the new group; a missing optional file is no error. */
static int cg_set(const pf_guard *g, const char *name, const char *value, bool optional)
{
	char *f = pf_guard_cg_file(g->cg_dir, name);
	int rc = 0, err;
	if (optional && access(f, F_OK) != 0)
		goto done;
	if ((err = pf_guard_write_str(f, value)) != 0)
		rc = pf_error_code(PF_EENV, "cannot write \"%s\": %s; use --memory-guard watchdog", f, strerror(-err));
done:
	free(f);
	return rc;
}

int pf_guard_cg_create(pf_guard *g, int version)
{
	pf_guard_cg_prep prep = CG_READY;
	char *why = NULL, *parent = pf_guard_cg_place(version, &prep, &why);
	char *name = NULL;
	char num[24];
	int rc = 0, slot = -1;
	if (!parent) {
		rc = pf_error_code(PF_EENV,
		                   "memory guard \"cgroup%d\" is not available here: %s; use --memory-guard auto",
		                   version, why);
		goto done;
	}
	if ((rc = pf_guard_cg_prepare(parent, prep)) != 0)
		goto done;
	for (int i = 0; i < MAX_CGROUPS; i++)
		if (!cg_used[i]) {
			slot = i;
			break;
		}
	if (slot < 0) {
		rc = pf_error_set("too many cgroups are in use by this pteflow process");
		goto done;
	}
	for (int tries = 0;; tries++) {
		free(name);
		name = pf_xasprintf("%s/" CG_PREFIX "%d-%" PRIu64 "-%u", parent, (int)getpid(), own_start_time(),
		                    cg_counter++);
		if (strlen(name) + 20 >= CG_PATH_MAX) {
			rc = pf_error_code(PF_EENV, "cgroup path \"%s\" is too long", name);
			goto done;
		}
		if (mkdir(name, 0755) == 0)
			break;
		/* EEXIST: left by a pteflow that had our pid and was killed (pids repeat in containers) */
		if (errno != EEXIST || tries >= 100) {
			rc = pf_error_code(PF_EENV, "cannot create cgroup \"%s\": %s; use --memory-guard watchdog",
			                   name, strerror(errno));
			goto done;
		}
	}
	memcpy(g->cg_dir, name, strlen(name) + 1);
	memcpy(cg_registry[slot], name, strlen(name) + 1);
	cg_used[slot] = 1;
	g->slot = slot;
	g->version = version;
	g->watch_oom = true;
	snprintf(g->procs_path, sizeof(g->procs_path), "%s/cgroup.procs", name);
	pf_guard_u64_to_dec(num, g->limit_bytes);
	if (version == 2) {
		g->has_peak_file = pf_guard_file_exists_in(name, "memory.peak");
		g->sample_cgroup = !g->has_peak_file;
		/* no swap, or the limit is dodged by swapping; the whole group dies together when the kernel
		 * OOM-kills in it */
		if (g->limit_bytes && ((rc = cg_set(g, "memory.max", num, false)) != 0 ||
		                       (rc = cg_set(g, "memory.swap.max", "0", true)) != 0 ||
		                       (rc = cg_set(g, "memory.oom.group", "1", true)) != 0))
			goto done;
	} else if (g->limit_bytes) {
		/* memsw >= limit_in_bytes; equal means no swap at all. oom_kill_disable is inherited from
		 * the parent in v1: a group that never kills would hang at its limit */
		if ((rc = cg_set(g, "memory.limit_in_bytes", num, false)) != 0 ||
		    (rc = cg_set(g, "memory.memsw.limit_in_bytes", num, true)) != 0)
			goto done;
		(void)cg_set(g, "memory.oom_control", "0", true);
	}
done:
	if (rc != 0 && g->slot >= 0) {
		(void)pf_guard_cg_remove(g->cg_dir);
		cg_used[g->slot] = 0;
		g->slot = -1;
		g->cg_dir[0] = '\0';
		g->procs_path[0] = '\0';
		g->version = 0;
		g->has_peak_file = g->sample_cgroup = g->watch_oom = false;
	}
	free(name);
	free(why);
	free(parent);
	return rc;
}

/* Set `g` up for `mode` (not AUTO). */

void pf_guard_cg_release(pf_guard *g)
{
	if (g->slot < 0)
		return;
	(void)pf_guard_cg_kill_members(g->cg_dir);
	if (pf_guard_cg_remove(g->cg_dir) == 0)
		cg_used[g->slot] = 0;
	else
		pf_log_warn("could not remove cgroup \"%s\": remove it by hand with rmdir", g->cg_dir);
	g->slot = -1;
}

void pf_guard_abandon(pf_guard *g)
{
	if (g && g->cg_dir[0])
		(void)pf_guard_cg_remove(g->cg_dir);
}

/* A decimal number at *p up to `stop`; advances *p past it. */
static bool take_number(const char **p, char stop, uint64_t *out)
{
	uint64_t v = 0;
	const char *q = *p;
	if (*q < '0' || *q > '9')
		return false;
	for (; *q >= '0' && *q <= '9'; q++)
		if (pf_mul_overflow(v, 10, &v) || pf_add_overflow(v, (uint64_t)(*q - '0'), &v))
			return false;
	if (*q != stop)
		return false;
	*p = stop ? q + 1 : q;
	*out = v;
	return true;
}

/* "pteflow-<pid>-<start>-<n>" exactly: the owner's pid and start time. */
static bool parse_name(const char *name, pid_t *pid, uint64_t *start)
{
	const char *p = name + strlen(CG_PREFIX);
	uint64_t v, n;
	if (strncmp(name, CG_PREFIX, strlen(CG_PREFIX)) != 0 || !take_number(&p, '-', &v) || v == 0 ||
	    v > 4194304 || !take_number(&p, '-', start) || !take_number(&p, '\0', &n))
		return false;
	*pid = (pid_t)v;
	return true;
}

/* Remove the stale groups in `dir`; returns how many. */
static size_t remove_stale_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t removed = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid_t pid;
		uint64_t start, now;
		struct stat st;
		char *path;
		int err;
		if (!parse_name(de->d_name, &pid, &start))
			continue;
		path = pf_guard_cg_file(dir, de->d_name);
		/* ours (same user), a folder, and its owner is gone: not running, or a new process with its pid */
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
		    !(pf_guard_tree_start_time(pid, &now) == 0 && now == start)) {
			if ((err = pf_guard_cg_remove(path)) == 0) {
				removed++;
				pf_log_info("removed cgroup \"%s\" left by an earlier run that is gone (pid %d)", path,
				            (int)pid);
			} else {
				pf_log_warn("cannot remove cgroup \"%s\" left by an earlier run: %s; remove it by hand "
				            "with rmdir once its processes are gone",
				            path, strerror(-err));
			}
		}
		free(path);
	}
	closedir(d);
	return removed;
}

size_t pf_guard_remove_stale(void)
{
	size_t removed = 0;
	for (int version = 1; version <= 2; version++) {
		pf_guard_cg_prep prep;
		char *why = NULL, *dir = pf_guard_cg_place(version, &prep, &why);
		if (dir)
			removed += remove_stale_in(dir);
		free(dir);
		free(why);
	}
	return removed;
}
