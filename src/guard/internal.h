/*
 * Internal to src/guard/: the guard object and the helpers its files share
 * (guard.c: modes, sampling, verdict; cgroup.c: create, kill, remove;
 * cgroup_place.c: where groups go; admit.c: admission). The helpers marked
 * async-signal-safe may run in a forked child or a signal handler.
 */
#ifndef PF_GUARD_INTERNAL_H
#define PF_GUARD_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guard/guard.h"

#define CG_PATH_MAX 512
#define MAX_CGROUPS 32
#define SEEN_MAX 1024

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
	pid_t supervisor; /* pteflow's supervisor of the step: neither counted nor signalled */
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
	pf_series series;
	uint64_t series_next_ns; /* next sample of the series */
	char fallback[160]; /* auto: the mechanism that could not be set up, and why */
	pid_t seen[SEEN_MAX];
	size_t n_seen;
};

/* What must happen to a cgroup v2 folder before step groups can go in it (see pf_guard_cg_place). */
typedef enum pf_guard_cg_prep {
	CG_READY = 0, /* it hands the memory controller to its children already (and v1 needs nothing) */
	CG_ENABLE,    /* the system root: write "+memory" to its subtree_control */
	CG_LEAF       /* pteflow's own group: move pteflow into a leaf of it first, then "+memory" */
} pf_guard_cg_prep;


uint64_t pf_guard_mono_ns(void);

/* Async-signal-safe: decimal text of v into buf (24 bytes suffice); returns its length. */
size_t pf_guard_u64_to_dec(char *buf, uint64_t v);
/* Async-signal-safe: write s to an existing file; 0 or -errno. */
int pf_guard_write_str(const char *path, const char *s);
/*
 * Async-signal-safe: SIGKILL every member of a cgroup folder (cgroup.kill
 * when present, else each pid in cgroup.procs); returns how many were listed.
 */
size_t pf_guard_cg_kill_members(const char *dir);
/* Async-signal-safe: kill the members and rmdir, retrying while the group drains (~2 s); 0 or -errno. */
int pf_guard_cg_remove(const char *dir);

/* A number from a one-value file ("max" is UINT64_MAX). */
bool pf_guard_read_u64(const char *path, uint64_t *out);
/* Value of "key N" in a flat keyed file (memory.events, memory.oom_control). */
bool pf_guard_read_keyed(const char *path, const char *key, uint64_t *out);
/* "dir/name", heap. */
char *pf_guard_cg_file(const char *dir, const char *name);
bool pf_guard_file_exists_in(const char *dir, const char *name);

/* pteflow's own cgroup folder for version 1 or 2 (and the mount, when out_mount): see cgroup_place.c. Heap or NULL. */
char *pf_guard_own_cgroup_dir(int version, char **out_mount);
/* Where step groups go for `version` and what to do there first; NULL with *why (heap) when unusable. */
char *pf_guard_cg_place(int version, pf_guard_cg_prep *prep, char **why);
/* Do what `prep` says to `dir` (v2: enable the memory controller, moving pteflow into a leaf first). */
int pf_guard_cg_prepare(const char *dir, pf_guard_cg_prep prep);

/* Create and configure the step's group for cgroup `version` into g (cg_dir, procs_path, slot...). */
int pf_guard_cg_create(pf_guard *g, int version);
/* Kill the group's members, remove it and free its registry slot (warns when it cannot). */
void pf_guard_cg_release(pf_guard *g);

#endif
