/*
 * Where a step's memory cgroup goes, for cgroup.c: pteflow's own group from
 * /proc/self/cgroup and /proc/self/mountinfo, and what must be done to a
 * cgroup v2 folder before groups with the memory controller can go in it.
 * Probing writes nothing (pf_guard_detect() uses it); preparing may move
 * pteflow into a leaf group. Runs once per step.
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

/* true when the comma-separated list (controllers, mount options) names "memory". */
static bool lists_memory(const char *list)
{
	const char *tok = list;
	while (tok && *tok) {
		const char *comma = strchr(tok, ',');
		size_t l = comma ? (size_t)(comma - tok) : strlen(tok);
		if (l == 6 && strncmp(tok, "memory", 6) == 0)
			return true;
		tok = comma ? comma + 1 : NULL;
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
char *pf_guard_own_cgroup_dir(int version, char **out_mount)
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
				match = lists_memory(c1 + 1);
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
			else if (strcmp(fstype, "cgroup") == 0 && superopts)
				match = lists_memory(superopts + 1);
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

/*
 * Where step cgroups go for `version`, and what must be done there first
 * (v2; see the top of this file). Writes nothing, so pf_guard_detect() can
 * probe with it. NULL with *why set when the mechanism is unusable here.
 */
char *pf_guard_cg_place(int version, pf_guard_cg_prep *prep, char **why)
{
	char *mount = NULL, *own = pf_guard_own_cgroup_dir(version, &mount), *result = NULL, *p = NULL, *up = NULL;
	bool at_mount, system_root;
	*prep = CG_READY;
	if (!own) {
		*why = pf_xasprintf("no cgroup v%d %shierarchy is mounted for this process", version,
		                    version == 1 ? "memory " : "");
		goto done;
	}
	if (version == 1) {
		if (access(own, W_OK) != 0 || !pf_guard_file_exists_in(own, "memory.limit_in_bytes")) {
			*why = pf_xasprintf("cgroup v1 memory folder \"%s\" is not writable", own);
			goto done;
		}
		result = own;
		own = NULL;
		goto done;
	}
	p = pf_guard_cg_file(own, "cgroup.subtree_control");
	if (word_in_file(p, "memory") && access(own, W_OK) == 0) {
		result = own;
		own = NULL;
		goto done;
	}
	free(p);
	p = pf_guard_cg_file(own, "cgroup.controllers");
	if (!word_in_file(p, "memory")) {
		*why = pf_xasprintf("the memory controller is not available in cgroup v2 group \"%s\"", own);
		goto done;
	}
	/* never above the mount: a cgroup namespace's root is pteflow's top; only the system root has no cgroup.type */
	at_mount = strcmp(own, mount) == 0;
	system_root = at_mount && !pf_guard_file_exists_in(own, "cgroup.type");
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
		p = pf_guard_cg_file(own, "cgroup.procs");
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
	pf_guard_cg_prep prep;
	char *why = NULL, *dir;
	if (mode != PF_GUARD_CGROUP1 && mode != PF_GUARD_CGROUP2)
		return NULL;
	dir = pf_guard_cg_place(mode == PF_GUARD_CGROUP1 ? 1 : 2, &prep, &why);
	free(why);
	return dir;
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
	procs = pf_guard_cg_file(leaf, "cgroup.procs");
	pf_guard_u64_to_dec(num, (uint64_t)getpid());
	if ((err = pf_guard_write_str(procs, num)) != 0) {
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
	char *procs = pf_guard_cg_file(own, "cgroup.procs"), *leaf = pf_xasprintf("%s/pteflow.%d", own, (int)getpid());
	char num[24];
	pf_guard_u64_to_dec(num, (uint64_t)getpid());
	if (pf_guard_write_str(procs, num) == 0)
		(void)rmdir(leaf);
	free(leaf);
	free(procs);
}

/* Hand the memory controller to the children of `dir` (v2), moving pteflow into a leaf first for CG_LEAF. */
int pf_guard_cg_prepare(const char *dir, pf_guard_cg_prep prep)
{
	char *f = NULL;
	int rc = 0, err;
	if (prep == CG_READY)
		return 0;
	if (prep == CG_LEAF && (rc = enter_leaf(dir)) != 0)
		goto done;
	f = pf_guard_cg_file(dir, "cgroup.subtree_control");
	if ((err = pf_guard_write_str(f, "+memory")) != 0) {
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

