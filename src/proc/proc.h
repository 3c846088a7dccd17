/*
 * Spawn one step's process tree, capture its output, enforce its timeout and
 * memory guard, and reap it. The child runs in its own process group with
 * exactly the environment given, /dev/null as stdin and no other descriptor
 * of pteflow's; nothing it starts survives a timeout, a memory kill or an
 * interrupt of pteflow.
 */
#ifndef PF_PROC_PROC_H
#define PF_PROC_PROC_H

#include <stdbool.h>
#include <stdint.h>

#include "guard/guard.h"

typedef enum pf_proc_end {
	PF_END_OK = 0,     /* exit status 0 */
	PF_END_EXIT,       /* exit status != 0 */
	PF_END_SIGNAL,     /* killed by a signal we did not send */
	PF_END_TIMEOUT,    /* we stopped it at its timeout */
	PF_END_MEMORY,     /* killed for crossing its memory limit (guard or kernel OOM in our cgroup) */
	PF_END_INTERRUPTED,/* pteflow got SIGINT/SIGTERM and stopped it */
	PF_END_SPAWN       /* could not start (exec failed) */
} pf_proc_end;

typedef struct pf_proc_spec {
	const char *name;          /* step name: log prefix and messages */
	char *const *argv;         /* argv[0] is looked up in PATH of envp when it has no '/' */
	char *const *envp;         /* the complete environment */
	const char *cwd;           /* NULL = inherit */
	const char *log_path;      /* stdout+stderr are written here (redacted); NULL = none */
	bool echo;                 /* also echo each line to stderr as "[name] line" */
	uint64_t timeout_ms;       /* 0 = none */
	uint64_t grace_ms;         /* SIGTERM -> SIGKILL; 0 = 5000 */
	pf_guard_mode guard_mode;
	uint64_t memory_limit_bytes; /* 0 = measure only */
	uint32_t sample_ms;        /* memory series interval (pf_guard_set_sampling); 0 = none */
} pf_proc_spec;

/*
 * Phase markers: a line "PTEFLOW_PHASE=<name>" on the step's output (stdout
 * or stderr) says a phase starts now. <name> is 1-31 of [A-Za-z0-9_.-]; a
 * line ends at LF or CR (a progress bar's redraw ends one); any other line
 * is ignored: a longer name, another character, text before the prefix. At most
 * PF_PROC_MAX_PHASES are kept (later ones are counted in n_phases_dropped).
 */
#define PF_PROC_PHASE_PREFIX "PTEFLOW_PHASE="
#define PF_PROC_MAX_PHASES 16
#define PF_PROC_PHASE_NAME_MAX 32

typedef struct pf_proc_phase {
	char name[PF_PROC_PHASE_NAME_MAX];
	uint32_t t_ms; /* since the step started */
} pf_proc_phase;

typedef struct pf_proc_result {
	pf_proc_end end;
	int exit_code;    /* when end is OK or EXIT */
	int signal;       /* when the child died of a signal */
	uint64_t wall_ms;
	uint64_t user_ms;
	uint64_t sys_ms;
	uint64_t maxrss_bytes; /* from wait4/RUSAGE_CHILDREN: largest single process */
	pf_guard_report guard; /* mechanism, limit, tree peak, OOM evidence */
	uint64_t log_bytes;
	char log_sha256[65];   /* of the log file as written; "" when none */
	char spawn_error[256]; /* end PF_END_SPAWN: why, e.g. "\"foo\" was not found in PATH" */
	pf_proc_phase phases[PF_PROC_MAX_PHASES]; /* in the order the step printed them */
	size_t n_phases;
	size_t n_phases_dropped;
} pf_proc_result;

/* The state of the phase-marker scan over a step's output, fed in pieces of any size. */
typedef struct pf_proc_phase_scan {
	size_t col;      /* bytes of the current line seen so far */
	bool skip;       /* the current line is not a marker */
	size_t len;
	char name[PF_PROC_PHASE_NAME_MAX];
} pf_proc_phase_scan;

void pf_proc_phase_scan_init(pf_proc_phase_scan *sc);
/* Scan output bytes read at `t_ms`; each complete marker line adds a phase to out. Bounded, no allocation. */
void pf_proc_phase_feed(pf_proc_phase_scan *sc, const char *p, size_t n, uint32_t t_ms, pf_proc_result *out);

/* Human word for an end: "success", "failed", "killed by signal", "timed out", "out of memory", "interrupted", "could not start". */
const char *pf_proc_end_name(pf_proc_end end);

/*
 * Run to completion. Returns 0 when the step ran (whatever its end: read
 * out->end), or <0 when it could not be set up (log unwritable, guard
 * unavailable...). out->end == PF_END_INTERRUPTED also makes it return PF_EINTR.
 */
int pf_proc_run(pf_proc_result *out, const pf_proc_spec *spec);

/*
 * Install SIGINT/SIGTERM/SIGHUP handlers that make a running pf_proc_run stop
 * its tree and return (PF_EINTR, end PF_END_INTERRUPTED): SIGTERM to the tree,
 * SIGKILL after the grace. A second signal skips the grace (SIGKILL to the
 * whole tree now, still reported as interrupted); a third, or a second one
 * between steps, kills pteflow's step group, removes its cgroups and lets
 * the signal end pteflow. Also ignores SIGPIPE (a closed stderr must not kill
 * pteflow mid-step); steps get the default SIGPIPE back.
 */
void pf_proc_install_signal_handlers(void);
/* true once pteflow received SIGINT/SIGTERM. */
bool pf_proc_interrupted(void);

/*
 * Run a short helper command (no guard, no log) and capture its standard
 * output: at most max_bytes (more is an error), stderr discarded, stdin
 * /dev/null, killed after timeout_ms. For quick probes such as the
 * interpreter's package versions. *out is heap (caller frees). PF_EFAILED
 * when it exits non-zero or is killed, PF_ELIMIT when it prints too much or
 * times out, PF_EENV when it cannot start.
 */
int pf_proc_capture(char **out, char *const *argv, char *const *envp, size_t max_bytes, uint64_t timeout_ms);

/* One-line description for messages: "exited with status 3", "was killed by signal 9 (Killed)", ... caller frees. */
char *pf_proc_describe(const pf_proc_result *r);

#endif
