/*
 * Memory guards for one step's process tree, for src/proc/ (one guard per
 * step run): a cgroup v2 or v1 memory group with a hard limit and no swap,
 * an rlimit backstop, and the RSS watchdog that sums the resident memory of
 * every descendant and kills the tree when the sum crosses the limit (a sum
 * above it is checked again with PSS, see guard.h). Also
 * admission (is there room to start?) and the peak figure of the verdict.
 *
 * Where step cgroups go:
 * - cgroup v1: under pteflow's own memory cgroup ("N:memory:/path" in
 *   /proc/self/cgroup), as "pteflow-<pid>-<n>". v1 allows processes in
 *   inner groups, so this is always the right place.
 * - cgroup v2, never above the cgroup2 mount (in a container, its root is
 *   pteflow's top), first match:
 *   1. pteflow's own group ("0::/path") when its subtree_control already
 *      has "memory";
 *   2. the system root (the only group without cgroup.type): "+memory" is
 *      written to its subtree_control, as the root is exempt from v2's
 *      no-internal-processes rule;
 *   3. a sibling of pteflow's own group, in the parent, when the parent is
 *      writable: pteflow's group lists "memory" in cgroup.controllers, so
 *      the parent hands it to its children. Not under pteflow's own limit,
 *      but with its own explicit memory.max;
 *   4. pteflow's own group when only it is writable (delegated to pteflow:
 *      a container's namespace root, a Delegate=yes unit) and pteflow is
 *      its only process: pteflow moves itself into the leaf
 *      "pteflow.<pid>", then writes "+memory" (a group that enables a
 *      controller for its children may hold no processes). The leaf stays
 *      until pteflow exits.
 *   Otherwise the reason says what to change (root, a delegated scope);
 *   `auto` takes the next mechanism, also when a group it picked cannot be
 *   created or configured (the probe writes nothing).
 * A group with a limit gets memory.max (v2) or memory.limit_in_bytes (v1),
 * no swap (memory.swap.max 0, memory.memsw.limit_in_bytes = the limit),
 * memory.oom.group 1 (v2) and oom_kill_disable 0 (v1, where it is inherited).
 * While the step runs, an OOM kill in the group stops the whole step (v1 has
 * no group kill; see cg_oom_seen). Names that exist already (a pteflow with
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
#include "guard/tree.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define CG_PATH_MAX 512
#define MAX_CGROUPS 32
#define SEEN_MAX 1024

/* Every cgroup pteflow created and has not removed yet, for pf_guard_cleanup_all(). */
static char cg_registry[MAX_CGROUPS][CG_PATH_MAX];
static volatile sig_atomic_t cg_used[MAX_CGROUPS];
static unsigned cg_counter;

struct pf_guard {
	pf_guard_mode mode;
	uint64_t limit_bytes;
	int version; /* cgroup version in use: 0 none, 1, 2 */
	int slot;    /* registry slot or -1 */
	char cg_dir[CG_PATH_MAX];
	char procs_path[CG_PATH_MAX + 16];
	bool has_peak_file;
	bool watchdog;      /* sum tree RSS and kill above the limit */
	bool measure_tree;  /* sum tree RSS for the peak figure only */
	bool sample_cgroup; /* v2 without memory.peak: sample memory.current */
	bool watch_oom;     /* cgroup: an OOM kill in the group (or v1 under_oom) stops the whole step */
	bool oom_fired;
	uint64_t rlimit_as;
	pid_t pid;
	uint64_t start_ns;
	uint64_t next_ns;
	uint64_t last_ns;
	uint64_t last_sum;
	uint64_t tree_peak;
	uint64_t cg_sampled_peak;
	int interval_ms;
	unsigned long samples;
	bool fired;
	size_t fired_procs;
	unsigned long pss_checks;
	uint64_t pss_cost_ns;
	char fallback[160]; /* auto: the mechanism that could not be set up, and why */
	pid_t seen[SEEN_MAX];
	size_t n_seen;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- async-signal-safe helpers ---- */

static size_t u64_to_dec(char *buf, uint64_t v)
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

static int write_str(const char *path, const char *s)
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
static size_t cg_kill_members(const char *dir)
{
	char path[CG_PATH_MAX + 32], buf[8192];
	size_t seen = 0;
	ssize_t len;
	char *p;
	bool killed = path_cat(path, sizeof(path), dir, "/cgroup.kill") && write_str(path, "1") == 0;
	if (!path_cat(path, sizeof(path), dir, "/cgroup.procs"))
		return 0;
	len = pf_guard_tree_read_small(path, buf, sizeof(buf));
	if (len <= 0)
		return 0;
	p = buf;
	while (*p) {
		long pid = 0;
		while (*p == '\n' || *p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			break;
		while (*p >= '0' && *p <= '9')
			pid = pid * 10 + (*p++ - '0');
		if (pid > 1) {
			if (!killed)
				(void)kill((pid_t)pid, SIGKILL);
			seen++;
		}
	}
	return seen;
}

/* Kill the members and rmdir, retrying while the group drains (up to ~2 s). */
static int cg_remove(const char *dir)
{
	for (int i = 0; i < 100; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		(void)cg_kill_members(dir);
		sleep_ms(i < 10 ? 2 : 20);
	}
	return -EBUSY;
}

void pf_guard_cleanup_all(void)
{
	for (int i = 0; i < MAX_CGROUPS; i++) {
		if (!cg_used[i])
			continue;
		(void)cg_kill_members(cg_registry[i]);
		if (cg_remove(cg_registry[i]) == 0)
			cg_used[i] = 0;
	}
}

/* ---- reading cgroup and /proc files ---- */

static bool read_u64_file(const char *path, uint64_t *out)
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
static bool read_keyed(const char *path, const char *key, uint64_t *out)
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

static char *cg_file(const char *dir, const char *name)
{
	return pf_xasprintf("%s/%s", dir, name);
}

static bool file_exists_in(const char *dir, const char *name)
{
	char *p = cg_file(dir, name);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

static bool word_in_file(const char *path, const char *word)
{
	char buf[1024];
	size_t wl = strlen(word);
	char *p;
	if (pf_guard_tree_read_small(path, buf, sizeof(buf)) < 0)
		return false;
	p = buf;
	while (*p) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (strncmp(p, word, wl) == 0 && (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0'))
			return true;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	return false;
}

/*
 * The folder of pteflow's own cgroup for `version` (1: the memory hierarchy,
 * 2: the unified one): mount point + our path from /proc/self/cgroup, minus
 * the mount's root. NULL when there is none. *out_mount (when not NULL)
 * receives the mount point, the top of what pteflow may use. Caller frees
 * both. The test-only override of guard.h replaces both /proc files (v2).
 */
static char *own_cgroup_dir(int version, char **out_mount)
{
	pf_buf mi, cg;
	const char *fake = version == 2 ? getenv(PF_GUARD_TEST_CGROUP2_MOUNT_ENV) : NULL;
	char *result = NULL, *own = NULL, *mount = NULL, *line;
	pf_buf_init(&mi, 1 << 20);
	pf_buf_init(&cg, 1 << 16);
	if (fake && *fake) {
		const char *self = getenv(PF_GUARD_TEST_CGROUP2_SELF_ENV);
		mount = pf_xstrdup(fake);
		result = self && self[0] == '/' && self[1] ? pf_xasprintf("%s%s", fake, self) : pf_xstrdup(fake);
		goto done;
	}
	if (pf_fs_read_file(&cg, "/proc/self/cgroup", cg.max) != 0)
		goto done;
	for (line = cg.data; line && *line;) {
		char *nl = strchr(line, '\n');
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (nl)
			*nl = '\0';
		if (c1 && c2) {
			bool match;
			*c2 = '\0';
			if (version == 2) {
				match = strncmp(line, "0:", 2) == 0 && c1[1] == '\0';
			} else {
				char *ctl = c1 + 1, *tok = ctl;
				match = false;
				while (tok && *tok) {
					char *comma = strchr(tok, ',');
					size_t l = comma ? (size_t)(comma - tok) : strlen(tok);
					if (l == 6 && strncmp(tok, "memory", 6) == 0)
						match = true;
					tok = comma ? comma + 1 : NULL;
				}
			}
			if (match) {
				own = pf_xstrdup(c2 + 1);
				break;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!own)
		goto done;
	if (pf_fs_read_file(&mi, "/proc/self/mountinfo", mi.max) != 0)
		goto done;
	for (line = mi.data; line && *line;) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char *nl = strchr(line, '\n');
		char *f[6] = {0}, *dash, *p = line;
		int k;
		if (nl)
			*nl = '\0';
		for (k = 0; k < 5 && p; k++) {
			f[k] = p;
			p = strchr(p, ' ');
			if (p)
				*p++ = '\0';
		}
		dash = p ? strstr(p, " - ") : NULL;
		if (k == 5 && dash) {
			char *fstype = dash + 3, *sp = strchr(fstype, ' ');
			char *superopts = NULL;
			bool match = false;
			if (sp) {
				*sp = '\0';
				superopts = strchr(sp + 1, ' ');
			}
			if (version == 2)
				match = strcmp(fstype, "cgroup2") == 0;
			else if (strcmp(fstype, "cgroup") == 0 && superopts) {
				char *tok = superopts + 1;
				while (tok && *tok) {
					char *comma = strchr(tok, ',');
					size_t l = comma ? (size_t)(comma - tok) : strlen(tok);
					if (l == 6 && strncmp(tok, "memory", 6) == 0)
						match = true;
					tok = comma ? comma + 1 : NULL;
				}
			}
			if (match) {
				const char *root = f[3], *rel = own;
				size_t rl = strlen(root);
				if (strcmp(root, "/") != 0 && strncmp(own, root, rl) == 0 &&
				    (own[rl] == '/' || own[rl] == '\0'))
					rel = own + rl;
				result = strcmp(rel, "/") == 0 || *rel == '\0' ? pf_xstrdup(f[4])
				                                               : pf_xasprintf("%s%s", f[4], rel);
				if (!pf_fs_is_dir(result)) {
					free(result);
					result = pf_xstrdup(f[4]);
				}
				mount = pf_xstrdup(f[4]);
				break;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
done:
	if (out_mount && result) {
		*out_mount = mount;
		mount = NULL;
	}
	free(mount);
	free(own);
	pf_buf_dispose(&mi);
	pf_buf_dispose(&cg);
	return result;
}

/* true when the cgroup.procs file at `path` lists no process but pteflow itself. */
static bool holds_only_self(const char *path)
{
	char buf[4096], *p = buf, *end;
	long self = (long)getpid();
	if (pf_guard_tree_read_small(path, buf, sizeof(buf)) < 0)
		return false;
	while (*p) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid != self)
			return false;
		p = end;
		while (*p == '\n' || *p == ' ')
			p++;
	}
	return true;
}

/* What must happen to a cgroup v2 folder before step groups can go in it (see cgroup_parent). */
typedef enum cg_prep {
	CG_READY = 0, /* it hands the memory controller to its children already (and v1 needs nothing) */
	CG_ENABLE,    /* the system root: write "+memory" to its subtree_control */
	CG_LEAF       /* pteflow's own group: move pteflow into a leaf of it first, then "+memory" */
} cg_prep;

/*
 * Where step cgroups go for `version`, and what must be done there first
 * (v2; see the top of this file). Writes nothing, so pf_guard_detect() can
 * probe with it. NULL with *why set when the mechanism is unusable here.
 */
static char *cgroup_parent(int version, cg_prep *prep, char **why)
{
	char *mount = NULL, *own = own_cgroup_dir(version, &mount), *result = NULL, *p = NULL, *up = NULL;
	bool at_mount, system_root;
	*prep = CG_READY;
	if (!own) {
		*why = pf_xasprintf("no cgroup v%d %shierarchy is mounted for this process", version,
		                    version == 1 ? "memory " : "");
		goto done;
	}
	if (version == 1) {
		if (access(own, W_OK) != 0 || !file_exists_in(own, "memory.limit_in_bytes")) {
			*why = pf_xasprintf("cgroup v1 memory folder \"%s\" is not writable", own);
			goto done;
		}
		result = own;
		own = NULL;
		goto done;
	}
	p = cg_file(own, "cgroup.subtree_control");
	if (word_in_file(p, "memory") && access(own, W_OK) == 0) {
		result = own;
		own = NULL;
		goto done;
	}
	free(p);
	p = cg_file(own, "cgroup.controllers");
	if (!word_in_file(p, "memory")) {
		*why = pf_xasprintf("the memory controller is not available in cgroup v2 group \"%s\"", own);
		goto done;
	}
	/* never above the mount: a cgroup namespace's root is pteflow's top; only the system root has no cgroup.type */
	at_mount = strcmp(own, mount) == 0;
	system_root = at_mount && !file_exists_in(own, "cgroup.type");
	if (system_root && access(own, W_OK) == 0) {
		/* the system root is exempt from the no-internal-processes rule */
		*prep = CG_ENABLE;
		result = own;
		own = NULL;
		goto done;
	}
	if (!at_mount) {
		/* our group has memory, so its parent enables it for children: siblings of our group */
		up = pf_xstrdup(own);
		*strrchr(up, '/') = '\0';
		if (access(up, W_OK) == 0) {
			result = up;
			up = NULL;
			goto done;
		}
	}
	if (!system_root && access(own, W_OK) == 0) {
		/* a group delegated to us (namespace root, Delegate=yes): pteflow must leave it for a leaf */
		free(p);
		p = cg_file(own, "cgroup.procs");
		if (!holds_only_self(p)) {
			*why =
			    pf_xasprintf("other processes share pteflow's cgroup v2 group \"%s\", and a group that "
			                 "hands the memory controller to its children may hold none: start pteflow in "
			                 "a group of its own (systemd-run --scope -p Delegate=yes pteflow ...)",
			                 own);
			goto done;
		}
		*prep = CG_LEAF;
		result = own;
		own = NULL;
		goto done;
	}
	*why = pf_xasprintf("cgroup v2 group \"%s\"%s not writable by this user: run pteflow as root or in a "
	                    "cgroup delegated to it (systemd-run --user --scope -p Delegate=yes pteflow ...)",
	                    own, at_mount ? " is" : " and its parent are");
done:
	free(up);
	free(p);
	free(own);
	free(mount);
	return result;
}

char *pf_guard_cgroup_parent(pf_guard_mode mode)
{
	cg_prep prep;
	char *why = NULL, *dir;
	if (mode != PF_GUARD_CGROUP1 && mode != PF_GUARD_CGROUP2)
		return NULL;
	dir = cgroup_parent(mode == PF_GUARD_CGROUP1 ? 1 : 2, &prep, &why);
	free(why);
	return dir;
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
		cg_prep prep;
		char *why = NULL, *dir = cgroup_parent(v, &prep, &why);
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

/*
 * Move pteflow into the leaf "pteflow.<pid>" of its own group `own` (which
 * holds no other process), so that "+memory" can be written to `own`. The
 * leaf stays until pteflow exits: a group cannot be removed while pteflow
 * is in it, and the memory controller stays enabled in `own` for later
 * steps. On failure pteflow is back in `own`.
 */
static int enter_leaf(const char *own)
{
	char *leaf = pf_xasprintf("%s/pteflow.%d", own, (int)getpid()), *procs = NULL;
	char num[24];
	int rc = 0, err;
	if (mkdir(leaf, 0755) != 0 && errno != EEXIST) {
		rc = pf_error_code(PF_EENV,
		                   "cannot create cgroup \"%s\" for pteflow itself: %s; use --memory-guard watchdog",
		                   leaf, strerror(errno));
		goto done;
	}
	procs = cg_file(leaf, "cgroup.procs");
	u64_to_dec(num, (uint64_t)getpid());
	if ((err = write_str(procs, num)) != 0) {
		(void)rmdir(leaf);
		rc = pf_error_code(PF_EENV, "cannot move pteflow into cgroup \"%s\": %s; use --memory-guard watchdog",
		                   leaf, strerror(-err));
	}
done:
	free(procs);
	free(leaf);
	return rc;
}

/* Undo enter_leaf(): pteflow back into `own`, the leaf removed. */
static void leave_leaf(const char *own)
{
	char *procs = cg_file(own, "cgroup.procs"), *leaf = pf_xasprintf("%s/pteflow.%d", own, (int)getpid());
	char num[24];
	u64_to_dec(num, (uint64_t)getpid());
	if (write_str(procs, num) == 0)
		(void)rmdir(leaf);
	free(leaf);
	free(procs);
}

/* Hand the memory controller to the children of `dir` (v2), moving pteflow into a leaf first for CG_LEAF. */
static int prepare_parent(const char *dir, cg_prep prep)
{
	char *f = NULL;
	int rc = 0, err;
	if (prep == CG_READY)
		return 0;
	if (prep == CG_LEAF && (rc = enter_leaf(dir)) != 0)
		goto done;
	f = cg_file(dir, "cgroup.subtree_control");
	if ((err = write_str(f, "+memory")) != 0) {
		if (prep == CG_LEAF)
			leave_leaf(dir);
		rc = pf_error_code(PF_EENV,
		                   "memory guard \"cgroup2\" cannot enable the memory controller in \"%s\": %s; "
		                   "use --memory-guard auto or watchdog",
		                   dir, strerror(-err));
	}
done:
	free(f);
	return rc;
}

/* Write `value` to the control file `name` of the new group; a missing optional file is no error. */
static int cg_set(const pf_guard *g, const char *name, const char *value, bool optional)
{
	char *f = cg_file(g->cg_dir, name);
	int rc = 0, err;
	if (optional && access(f, F_OK) != 0)
		goto done;
	if ((err = write_str(f, value)) != 0)
		rc = pf_error_code(PF_EENV, "cannot write \"%s\": %s; use --memory-guard watchdog", f, strerror(-err));
done:
	free(f);
	return rc;
}

static int create_cgroup(pf_guard *g, int version)
{
	cg_prep prep = CG_READY;
	char *why = NULL, *parent = cgroup_parent(version, &prep, &why);
	char *name = NULL;
	char num[24];
	int rc = 0, slot = -1;
	if (!parent) {
		rc = pf_error_code(PF_EENV,
		                   "memory guard \"cgroup%d\" is not available here: %s; use --memory-guard auto",
		                   version, why);
		goto done;
	}
	if ((rc = prepare_parent(parent, prep)) != 0)
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
		name = pf_xasprintf("%s/pteflow-%d-%u", parent, (int)getpid(), cg_counter++);
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
	u64_to_dec(num, g->limit_bytes);
	if (version == 2) {
		g->has_peak_file = file_exists_in(name, "memory.peak");
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
		(void)cg_remove(g->cg_dir);
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
static int setup_mode(pf_guard *g, pf_guard_mode mode)
{
	g->mode = mode;
	switch (mode) {
	case PF_GUARD_CGROUP2:
		return create_cgroup(g, 2);
	case PF_GUARD_CGROUP1:
		return create_cgroup(g, 1);
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
		u64_to_dec(num, (uint64_t)getpid());
		int rc = write_str(g->procs_path, num);
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
	g->start_ns = mono_ns();
	g->next_ns = g->start_ns;
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
		uint64_t r = pf_guard_tree_rss_bytes(pids[i]), share;
		remember(g, pids[i]);
		if (r && parents[i] != self && pf_guard_tree_same_mm(pids[i], parents[i]))
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

int pf_guard_poll_interval_ms(const pf_guard *g)
{
	if (!g || (!g->watchdog && !g->measure_tree && !g->sample_cgroup && !g->watch_oom))
		return -1;
	if (!g->watchdog && !g->measure_tree)
		return 20;
	return g->interval_ms;
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
	char *f = cg_file(g->cg_dir, g->version == 2 ? "memory.events" : "memory.oom_control");
	uint64_t kills = 0, under = 0;
	(void)read_keyed(f, "oom_kill", &kills);
	if (g->version == 1)
		(void)read_keyed(f, "under_oom", &under);
	free(f);
	return kills > 0 || under > 0;
}

bool pf_guard_poll(pf_guard *g)
{
	uint64_t now, sum = 0;
	size_t n_procs = 0;
	if (!g || g->pid <= 0 || (!g->watchdog && !g->measure_tree && !g->sample_cgroup && !g->watch_oom))
		return false;
	now = mono_ns();
	if (now < g->next_ns)
		return false;
	g->samples++;
	if (g->sample_cgroup) {
		char *f = cg_file(g->cg_dir, "memory.current");
		uint64_t cur;
		if (read_u64_file(f, &cur) && cur > g->cg_sampled_peak)
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
			t0 = mono_ns();
			sum = tree_sum(g, &n_procs, true);
			g->pss_cost_ns = mono_ns() - t0;
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
	}
	g->next_ns = now + (uint64_t)g->interval_ms * 1000000ULL;
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
		(void)cg_kill_members(g->cg_dir);
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
		if (pf_guard_tree_stat(pids[i], &st) != 0)
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
			live += cg_kill_members(g->cg_dir);
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
		char *f = cg_file(g->cg_dir, "memory.max_usage_in_bytes");
		uint64_t failcnt = 0, under = 0;
		bool have_kill;
		if (read_u64_file(f, &out->peak_bytes))
			out->peak_from_cgroup = true;
		free(f);
		f = cg_file(g->cg_dir, "memory.failcnt");
		(void)read_u64_file(f, &failcnt);
		free(f);
		f = cg_file(g->cg_dir, "memory.oom_control");
		have_kill = read_keyed(f, "oom_kill", &out->oom_kills);
		(void)read_keyed(f, "under_oom", &under);
		free(f);
		out->memory_kill = out->oom_kills > 0 || g->oom_fired ||
		                   (!have_kill && term_signal == SIGKILL && g->limit_bytes && failcnt > 0);
		snprintf(out->detail, sizeof(out->detail),
		         "cgroup1 memory.oom_control oom_kill %" PRIu64 "%s, memory.failcnt %" PRIu64, out->oom_kills,
		         under || (g->oom_fired && !out->oom_kills) ? ", under_oom (OOM killer disabled)" : "",
		         failcnt);
	} else if (g->version == 2) {
		char *f = cg_file(g->cg_dir, g->has_peak_file ? "memory.peak" : "memory.current");
		uint64_t ooms = 0, group_kills = 0;
		if (g->has_peak_file && read_u64_file(f, &out->peak_bytes))
			out->peak_from_cgroup = true;
		else
			out->peak_bytes = g->cg_sampled_peak;
		free(f);
		f = cg_file(g->cg_dir, "memory.events");
		(void)read_keyed(f, "oom_kill", &out->oom_kills);
		(void)read_keyed(f, "oom", &ooms);
		(void)read_keyed(f, "oom_group_kill", &group_kills); /* Linux >= 5.17 */
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
	if (g->fallback[0]) {
		size_t used = strlen(out->detail);
		snprintf(out->detail + used, sizeof(out->detail) - used, "%s%s", used ? "; " : "", g->fallback);
	}
}

void pf_guard_free(pf_guard *g)
{
	if (!g)
		return;
	if (g->slot >= 0) {
		(void)cg_kill_members(g->cg_dir);
		if (cg_remove(g->cg_dir) == 0)
			cg_used[g->slot] = 0;
		else
			pf_log_warn("could not remove cgroup \"%s\": remove it by hand with rmdir", g->cg_dir);
	}
	free(g);
}

/* ---- admission ---- */

static void fmt_gib(char *buf, size_t cap, uint64_t bytes)
{
	if (bytes >= (1ULL << 30))
		snprintf(buf, cap, "%.1f GiB", (double)bytes / (double)(1ULL << 30));
	else
		snprintf(buf, cap, "%.0f MiB", (double)bytes / (double)(1ULL << 20));
}

/* Smallest (limit - usage) from our own cgroup up to the mount, v1 and v2. */
static uint64_t cgroup_room(void)
{
	uint64_t room = UINT64_MAX;
	for (int v = 1; v <= 2; v++) {
		char *dir = own_cgroup_dir(v, NULL);
		const char *lim_name = v == 1 ? "memory.limit_in_bytes" : "memory.max";
		const char *use_name = v == 1 ? "memory.usage_in_bytes" : "memory.current";
		while (dir) {
			uint64_t lim, use = 0;
			char *lf = cg_file(dir, lim_name), *uf = cg_file(dir, use_name);
			char *slash;
			bool have = read_u64_file(lf, &lim);
			free(lf);
			if (have && lim < (1ULL << 62) && read_u64_file(uf, &use)) {
				uint64_t r = lim > use ? lim - use : 0;
				if (r < room)
					room = r;
			}
			free(uf);
			slash = strrchr(dir, '/');
			if (slash && slash != dir)
				*slash = '\0';
			if (!slash || slash == dir || !file_exists_in(dir, lim_name)) {
				free(dir);
				dir = NULL;
			}
		}
	}
	return room;
}

int pf_guard_available(uint64_t *out_bytes)
{
	const char *test = getenv(PF_GUARD_TEST_MEMAVAILABLE_ENV);
	uint64_t avail = 0, room;
	char buf[8192], *p;
	if (test && *test) {
		char *end;
		unsigned long long v;
		errno = 0;
		v = strtoull(test, &end, 10);
		if (end == test || *end || errno)
			return pf_error_code(PF_EINVALID, "\"%s\" must be a byte count",
			                     PF_GUARD_TEST_MEMAVAILABLE_ENV);
		*out_bytes = (uint64_t)v;
		return 0;
	}
	if (pf_guard_tree_read_small("/proc/meminfo", buf, sizeof(buf)) <= 0)
		return pf_error_code(PF_EENV, "cannot read \"/proc/meminfo\": is /proc mounted?");
	p = strstr(buf, "MemAvailable:");
	if (!p)
		return pf_error_code(PF_EENV, "\"/proc/meminfo\" has no MemAvailable line: the kernel is too old");
	avail = strtoull(p + 13, NULL, 10) * 1024ULL;
	room = cgroup_room();
	*out_bytes = room < avail ? room : avail;
	return 0;
}

int pf_guard_admit(const char *step_name, uint64_t expect_bytes, bool force)
{
	uint64_t avail;
	char need[32], have[32];
	int rc = pf_guard_available(&avail);
	if (rc != 0)
		return rc;
	if (expect_bytes <= avail)
		return 0;
	fmt_gib(need, sizeof(need), expect_bytes);
	fmt_gib(have, sizeof(have), avail);
	if (force) {
		pf_log_warn("step \"%s\" needs about %s, this host has %s available: running it anyway (--force)",
		            step_name, need, have);
		return 0;
	}
	return pf_error_code(PF_ELIMIT,
	                     "step \"%s\" needs about %s, this host has %s available: raise the limit, quantize first, "
	                     "or run the export on a CI runner; --force runs it anyway",
	                     step_name, need, have);
}
