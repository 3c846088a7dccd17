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
} pf_guard_report;

const char *pf_guard_mode_name(pf_guard_mode mode);
int pf_guard_mode_parse(pf_guard_mode *out, const char *text);

/* What `auto` picks on this host (probing writes nothing permanent). */
pf_guard_mode pf_guard_detect(void);

/*
 * Prepare a guard for one step. `limit_bytes` 0 means: measure only. For
 * PF_GUARD_AUTO the best available mechanism is picked; an explicit mode that
 * does not work here fails with PF_EENV and says why.
 */
int pf_guard_new(pf_guard **out, pf_guard_mode mode, uint64_t limit_bytes);

/* In the child after fork, before exec. Async-signal-safe; returns 0 or -errno. */
int pf_guard_child_enter(pf_guard *g);

/* In the parent right after fork (pid = the child, also its process group). */
int pf_guard_parent_attach(pf_guard *g, pid_t pid);

/*
 * Sample the tree (watchdog and peak). Returns true when the tree crossed the
 * limit and must be killed now (the caller kills the process group and
 * every member of the cgroup).
 */
bool pf_guard_poll(pf_guard *g);

/* Kill every process in the guard's cgroup (if any) with SIGKILL. */
void pf_guard_kill_all(pf_guard *g);

/* After the child was reaped; `rusage_maxrss_bytes` from wait4 is a fallback peak. */
void pf_guard_finish(pf_guard *g, uint64_t rusage_maxrss_bytes, int term_signal, pf_guard_report *out);

/* Remove the cgroup (if any) and free. NULL-safe. */
void pf_guard_free(pf_guard *g);

/* Async-signal-safe: remove every cgroup pteflow created (for fatal signals / atexit). */
void pf_guard_cleanup_all(void);

/* Admission: available memory for a new step = min(MemAvailable, room left in pteflow's own cgroup). */
int pf_guard_available(uint64_t *out_bytes);

/*
 * Refuse a step that expects more than is available:
 * "step "export" needs about 5.5 GiB, this host has 3.1 GiB available: ...".
 * Returns 0 or PF_ELIMIT. `force` only logs a warning.
 */
int pf_guard_admit(const char *step_name, uint64_t expect_bytes, bool force);

#endif
