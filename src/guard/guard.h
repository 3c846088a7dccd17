/*
 * Memory guards for a step's whole process tree: cgroup v2, cgroup v1,
 * rlimit, and an RSS watchdog that samples every descendant. Also admission
 * (is there enough memory to start?) and the peak figure.
 *
 * Lifecycle, driven by src/proc/:
 *   pf_guard_new()        before fork: create the cgroup (if any)
 *   pf_guard_child_enter() in the child between fork and exec (async-signal-safe)
 *   pf_guard_parent_attach() in the parent after fork, before the child execs
 *   pf_guard_poll()       every few ms while the child runs (watchdog sampling)
 *   pf_guard_finish()     after the tree is reaped: peak, OOM evidence
 *   pf_guard_free()       remove the cgroup; also done by pf_guard_cleanup_all()
 *                         from a signal-safe path when pteflow is interrupted
 */
#ifndef PF_GUARD_GUARD_H
#define PF_GUARD_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "guard/series.h"

typedef enum pf_guard_mode {
	PF_GUARD_AUTO = 0,
	PF_GUARD_CGROUP2,
	PF_GUARD_CGROUP1,
	PF_GUARD_RLIMIT,
	PF_GUARD_WATCHDOG,
	PF_GUARD_NONE
} pf_guard_mode;

typedef struct pf_guard pf_guard;

typedef struct pf_guard_report {
	pf_guard_mode mode;        /* what was actually used */
	uint64_t limit_bytes;      /* 0 = no limit */
	uint64_t peak_bytes;       /* best figure: cgroup peak, else watchdog tree peak */
	bool peak_from_cgroup;
	bool memory_kill;          /* killed because it crossed the limit (cgroup OOM or watchdog) */
	uint64_t oom_kills;        /* from memory.events / memory.oom_control */
	bool watchdog_fired;
	char detail[256];          /* evidence, e.g. "memory.events oom_kill 1" */
	pf_series series;          /* memory over time (interval 0: not sampled); its top is peak_bytes */
} pf_guard_report;

const char *pf_guard_mode_name(pf_guard_mode mode);
int pf_guard_mode_parse(pf_guard_mode *out, const char *text);

/* What `auto` picks on this host (probing writes nothing permanent). */
pf_guard_mode pf_guard_detect(void);

/*
 * Prepare a guard for one step. `limit_bytes` 0 means: measure only. For
 * PF_GUARD_AUTO the best available mechanism is picked, and when the cgroup
 * it picked cannot be created or configured the next one is taken (warned
 * once per process, and said in the report's detail); an explicit mode that
 * does not work here fails with PF_EENV and says why. Where step cgroups go
 * on cgroup v2 (and when pteflow moves itself into a leaf group to obey the
 * no-internal-processes rule): see the top of guard.c.
 */
int pf_guard_new(pf_guard **out, pf_guard_mode mode, uint64_t limit_bytes);

/*
 * Sample the step's memory into a series every `interval_ms` (0: off, the
 * default): the cgroup's usage where a cgroup guards the step, the tree's
 * resident memory otherwise; every tree measurement the watchdog makes
 * between two samples counts too (a bucket keeps its largest). Call before
 * pf_guard_parent_attach(); pf_guard_finish() hands the series over.
 */
void pf_guard_set_sampling(pf_guard *g, uint32_t interval_ms);

/* In the child after fork, before exec. Async-signal-safe; returns 0 or -errno. */
int pf_guard_child_enter(pf_guard *g);

/* In the parent right after fork (pid = the child, also its process group). */
int pf_guard_parent_attach(pf_guard *g, pid_t pid);

/*
 * Sample the tree (watchdog and peak) and the cgroup's OOM counters. Returns
 * true when the tree must be killed now (the caller kills the process group,
 * every descendant and every member of the cgroup): the watchdog saw it
 * cross the limit, or the kernel OOM-killed a process in the guard's cgroup
 * (cgroup v1 kills one process, not the group; the rest of the step would
 * carry on and could even exit 0), or a v1 group is stuck at its limit with
 * the OOM killer disabled.
 *
 * The watchdog sums the RSS of every process (statm, a counter: cheap), which
 * counts a page shared by several processes once per process: the pages a
 * forked worker shares copy-on-write with its parent, shared memory. So a sum
 * above the limit is measured again as the sum of PSS (smaps_rollup: each
 * shared page divided among the processes mapping it), and only that decides
 * the kill. PSS walks the page tables (~4 ms per GiB resident), so while
 * the RSS sum stays above the limit and the PSS sum below it, sampling slows
 * down to keep that walk under a fifth of one CPU. The peak figure is the
 * largest sum used for a decision: RSS below the limit, PSS above it.
 */
bool pf_guard_poll(pf_guard *g);

/* Kill every process in the guard's cgroup (if any) with SIGKILL. Async-signal-safe. */
void pf_guard_kill_all(pf_guard *g);

/*
 * `pid` is pteflow's supervisor of the step (src/proc/): a process of
 * pteflow's own in the step's tree that is no part of the step. It is never
 * counted in the peak nor signalled by pf_guard_signal_tree().
 */
void pf_guard_set_supervisor(pf_guard *g, pid_t pid);

/*
 * Async-signal-safe, for the step's supervisor (a child subreaper, so every
 * orphan of the step is its child): SIGKILL every child of the calling
 * process, from /proc/<pid>/task/<tid>/children of its only thread (or,
 * without that file, a scan of /proc). A killed child's own children come
 * back to the caller, so calling it until no child is left reaches the
 * whole tree. Returns how many were signalled.
 */
size_t pf_guard_kill_children(void);

/*
 * Async-signal-safe, for the step's supervisor once pteflow is gone: kill
 * every member of the guard's cgroup (if any) and remove the group.
 */
void pf_guard_abandon(pf_guard *g);

/* After the child was reaped; `rusage_maxrss_bytes` from wait4 is a fallback peak. */
void pf_guard_finish(pf_guard *g, uint64_t rusage_maxrss_bytes, int term_signal, pf_guard_report *out);

/* Remove the cgroup (if any) and free. NULL-safe. */
void pf_guard_free(pf_guard *g);

/* Async-signal-safe: remove every cgroup pteflow created (for fatal signals / atexit). */
void pf_guard_cleanup_all(void);

/*
 * Remove the step cgroups left by pteflow runs that are gone (killed
 * together with their step's supervisor, a crash): the groups named
 * "pteflow-<pid>-<start>-<n>" where this host puts step groups (cgroup v1
 * and v2), owned by this user, whose pid is not running or belongs to a
 * process started at another time. Their processes are killed first. The
 * groups of a live run, another user's, and anything pteflow did not name
 * are left alone. Returns how many were removed; one that cannot be
 * removed is a warning. `pteflow run` calls it before its first step.
 */
size_t pf_guard_remove_stale(void);

/* Admission: available memory for a new step = min(MemAvailable, room left in pteflow's own cgroup). */
int pf_guard_available(uint64_t *out_bytes);

/*
 * Refuse a step that expects more than is available:
 * "step "export" needs about 5.5 GiB, this host has 3.1 GiB available: ...".
 * Returns 0 or PF_ELIMIT. `force` only logs a warning.
 */
int pf_guard_admit(const char *step_name, uint64_t expect_bytes, bool force);

/*
 * Additions used by src/proc/ (and the tests).
 *
 * The process tree of a step is found from pteflow itself: src/proc/ runs
 * each step under a supervisor, a child of pteflow and a child subreaper
 * (PR_SET_CHILD_SUBREAPER), so a grandchild whose parent dies (a setsid
 * daemon included) is reparented to it instead of init and stays findable
 * (pteflow is a subreaper too, should the supervisor die). The tree is then
 * every process reachable through /proc/<pid>/task/<tid>/children from
 * pteflow (or, without that file, a ppid walk of /proc/<pid>/stat), minus
 * the supervisor (pf_guard_set_supervisor). While a step runs, every child
 * of pteflow belongs to that step: pteflow runs one step at a time and
 * starts no other processes.
 */

/*
 * Milliseconds until pf_guard_poll() wants to run again, or -1 when `g` is
 * NULL. Cgroup guards: 20 ms (OOM counters; memory.current where there is
 * no memory.peak). Watchdog: adapts, 20 ms far from the limit down to 1 ms
 * within 10% of it.
 */
int pf_guard_poll_interval_ms(const pf_guard *g);

/*
 * Send `sig` to the step's process group, to every live descendant of
 * pteflow and to every member of the guard's cgroup; reap zombies that were
 * reparented to pteflow (except the step's own pid, which the caller reaps
 * with wait4). Returns how many live processes were signalled (0: the tree
 * is gone). `g` may be a guard of mode NONE; pgid 0 skips the group kill.
 */
size_t pf_guard_signal_tree(pf_guard *g, pid_t pgid, int sig);

/* The folder where this guard's cgroup lives ("" when none). */
const char *pf_guard_cgroup_path(const pf_guard *g);

/*
 * The folder in which step cgroups "pteflow-<pid>-<n>" are created for
 * `mode` (PF_GUARD_CGROUP1 or PF_GUARD_CGROUP2) on this host, or NULL when
 * that mechanism is unusable here (the tests count its entries before and
 * after an interrupt). Caller frees.
 */
char *pf_guard_cgroup_parent(pf_guard_mode mode);

/*
 * RLIMIT_AS set by mode "rlimit" for a memory limit L: max(4 x L, L + 16 GiB).
 * RLIMIT_AS counts virtual address space, and PyTorch (like any program built
 * with AddressSanitizer) reserves far more address space than it touches, so
 * an address-space limit equal to L makes `import torch` fail far below real
 * use. RLIMIT_DATA counts private writable mappings on Linux >= 4.7 and has
 * the same problem; RLIMIT_RSS is ignored by Linux. So "rlimit" sets only
 * this generous RLIMIT_AS as a backstop against runaway allocation, and the
 * RSS watchdog (which it always runs) enforces L itself. The run report's
 * detail says so.
 */
uint64_t pf_guard_rlimit_as_bytes(uint64_t limit_bytes);

/*
 * Test-only: when the environment variable PTEFLOW_TEST_MEMAVAILABLE holds
 * a byte count, pf_guard_available() reports it instead of reading the host
 * (so admission can be tested on any machine). Not for production use.
 */
#define PF_GUARD_TEST_MEMAVAILABLE_ENV "PTEFLOW_TEST_MEMAVAILABLE"

/*
 * Test-only: when PTEFLOW_TEST_CGROUP2_MOUNT names a folder, the cgroup v2
 * code takes it for the cgroup2 mount and PTEFLOW_TEST_CGROUP2_SELF ("/a/b",
 * default "/") for pteflow's own group in it, instead of reading
 * /proc/self/mountinfo and /proc/self/cgroup (tests/unit/guard/ points them
 * at a fake cgroupfs). Not for production use.
 */
#define PF_GUARD_TEST_CGROUP2_MOUNT_ENV "PTEFLOW_TEST_CGROUP2_MOUNT"
#define PF_GUARD_TEST_CGROUP2_SELF_ENV "PTEFLOW_TEST_CGROUP2_SELF"

#endif
