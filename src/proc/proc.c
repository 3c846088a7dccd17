/*
 * The step runner: spawn one step (argv, a complete environment, a working
 * folder) in its own process group under a memory guard, capture its
 * stdout+stderr into a log file (secrets redacted, SHA-256 computed as it is
 * written) and echo it live, enforce its timeout, stop it when pteflow is
 * interrupted, reap it and classify how it ended. Used by the run engine
 * once per step; a step runs minutes to hours and may print megabytes.
 *
 * One poll() loop watches the output pipe, the step's supervisor (which
 * owns the step's tree and ends it should pteflow die: see internal.h and
 * spawn.c) and a self-pipe that the SIGCHLD and SIGINT/SIGTERM/SIGHUP
 * handlers write to. pteflow is a child subreaper too, so the tree stays
 * findable should the supervisor itself be killed (see guard.h). The log
 * and the echo are sink.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/internal.h"
#include "proc/proc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define READ_CHUNK 65536
#define DEFAULT_GRACE_MS 5000
#define DRAIN_MS 2000

static int self_pipe[2] = {-1, -1};
static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t n_interrupts;
static volatile sig_atomic_t running_pgid;
static volatile sig_atomic_t hard_stop; /* a second signal while a step runs: SIGKILL its tree now */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void wake(void)
{
	if (self_pipe[1] >= 0) {
		ssize_t n = write(self_pipe[1], "x", 1);
		(void)n;
	}
}

static void on_interrupt(int sig)
{
	int saved = errno;
	interrupted = 1;
	n_interrupts++;
	if (n_interrupts == 2 && running_pgid > 0) {
		/*
		 * A second signal: no grace. The run loop kills the whole tree now
		 * (setsid grandchildren too, which only its walk of pteflow's
		 * descendants finds) and still reports the step as interrupted.
		 */
		(void)kill(-running_pgid, SIGKILL);
		hard_stop = 1;
	} else if (n_interrupts > 1) {
		/* a third signal, or a second one between steps: stop the step's group and die of the signal */
		if (running_pgid > 0)
			(void)kill(-running_pgid, SIGKILL);
		pf_guard_cleanup_all();
		(void)signal(sig, SIG_DFL);
		(void)raise(sig);
	}
	wake();
	errno = saved;
}

static void on_sigchld(int sig)
{
	int saved = errno;
	(void)sig;
	wake();
	errno = saved;
}

static int ensure_self_pipe(void)
{
	if (self_pipe[0] >= 0)
		return 0;
	if (pipe2(self_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return pf_error_errno("cannot create a pipe");
	return 0;
}

void pf_proc_install_signal_handlers(void)
{
	struct sigaction sa;
	if (ensure_self_pipe() != 0)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	/*
	 * A reader of pteflow's stderr that went away (`pteflow run ... 2>&1 |
	 * head`) must not kill pteflow in the middle of a step and strand its
	 * tree: writes fail with EPIPE instead. Steps get SIGPIPE back (child()).
	 */
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
}

bool pf_proc_interrupted(void)
{
	return interrupted != 0;
}

const char *pf_proc_end_name(pf_proc_end end)
{
	switch (end) {
	case PF_END_OK:
		return "success";
	case PF_END_EXIT:
		return "failed";
	case PF_END_SIGNAL:
		return "killed by signal";
	case PF_END_TIMEOUT:
		return "timed out";
	case PF_END_MEMORY:
		return "out of memory";
	case PF_END_INTERRUPTED:
		return "interrupted";
	case PF_END_SPAWN:
		return "could not start";
	}
	return "unknown";
}

/* ---- spawning ---- */

/* Full path of argv[0]: as given when it has a '/', else the first executable in envp's PATH. Caller frees. */
static char *resolve(const char *arg0, char *const *envp, char *why, size_t why_cap)
{
	const char *path = "/usr/local/bin:/usr/bin:/bin";
	if (!arg0 || !*arg0) {
		snprintf(why, why_cap, "the step has an empty command");
		return NULL;
	}
	if (strchr(arg0, '/'))
		return pf_xstrdup(arg0);
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	while (path) {
		const char *colon = strchr(path, ':');
		size_t dl = colon ? (size_t)(colon - path) : strlen(path);
		char *cand = dl ? pf_xasprintf("%.*s/%s", (int)dl, path, arg0) : pf_xasprintf("./%s", arg0);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		path = colon ? colon + 1 : NULL;
	}
	snprintf(why, why_cap, "\"%s\" was not found in the PATH of the step: install it or give its full path", arg0);
	return NULL;
}

static void spawn_message(pf_proc_result *out, const pf_proc_spec *spec, const char *path, const int report[2])
{
	const char *e = strerror(report[1]);
	switch (report[0]) {
	case PF_PROC_STAGE_CGROUP:
		snprintf(out->spawn_error, sizeof(out->spawn_error), "cannot enter its memory cgroup: %s", e);
		break;
	case PF_PROC_STAGE_STDIO:
		snprintf(out->spawn_error, sizeof(out->spawn_error), "cannot set up its input and output: %s", e);
		break;
	case PF_PROC_STAGE_CWD:
		snprintf(out->spawn_error, sizeof(out->spawn_error), "working folder \"%s\": %s", spec->cwd, e);
		break;
	default:
		snprintf(out->spawn_error, sizeof(out->spawn_error), "\"%s\": %s", path, e);
		break;
	}
}

/* ---- the run ---- */

enum reason { R_NONE, R_TIMEOUT, R_INTERRUPT, R_MEMORY };

static void drain_self_pipe(void)
{
	char buf[64];
	while (read(self_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* Milliseconds from now to `when`, rounded up, at most `cap`. */
static int ms_until(uint64_t now, uint64_t when, int cap)
{
	uint64_t ms;
	if (now >= when)
		return 0;
	ms = (when - now + 999999ULL) / 1000000ULL;
	return ms < (uint64_t)cap ? (int)ms : cap;
}

/* Signal the whole tree until nothing of it is alive (bounded); reaps orphans that came back to us. */
static void sweep(pf_guard *g, pid_t pgid)
{
	for (int i = 0; i < 400; i++) {
		if (pf_guard_signal_tree(g, pgid, SIGKILL) == 0)
			return;
		struct timespec ts = {0, 5000000L};
		nanosleep(&ts, NULL);
	}
	pf_log_warn("some processes of the step could not be killed");
}

/* Everything one run of a step keeps while it watches the child. */
typedef struct run {
	const pf_proc_spec *spec;
	pf_proc_result *out;
	pf_proc_sink s;
	pf_proc_phase_scan phase;
	pf_guard *g;
	pid_t pid;       /* the step (its supervisor's child) */
	pid_t sup;       /* the step's supervisor: see internal.h */
	int life_w;      /* the lifeline: the supervisor ends the tree when it closes */
	int status_r;    /* pf_proc_msg records from the supervisor */
	bool sup_lost;   /* the supervisor died before the step was reported */
	int out_pipe[2], err_pipe[2];
	int status;
	struct rusage ru;
	bool reaped, eof, kill_sent, leftovers_killed;
	enum reason reason;
	uint64_t start_ns, deadline, kill_at, drain_until, grace_ns;
} run;

/*
 * One message from the supervisor within wait_ms (-1: as long as it takes).
 * 1: *m is filled; 0: nothing yet; -1: the supervisor is gone.
 */
static int read_msg(run *r, pf_proc_msg *m, int wait_ms)
{
	struct pollfd p = {r->status_r, POLLIN, 0};
	ssize_t n;
	if (r->status_r < 0)
		return -1;
	while (poll(&p, 1, wait_ms) < 0)
		if (errno != EINTR)
			return -1;
	if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	do {
		n = read(r->status_r, m, sizeof(*m)); /* written whole: below PIPE_BUF */
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 1 : -1;
}

/* Has the step ended? Waits up to wait_ms for the supervisor to say so. */
static void check_exit(run *r, int wait_ms)
{
	pf_proc_msg m;
	int got;
	if (r->reaped)
		return;
	got = read_msg(r, &m, wait_ms);
	if (got == 0 || (got == 1 && m.kind != PF_PROC_MSG_EXITED))
		return;
	if (got == 1) {
		r->status = m.status;
		r->ru = m.ru;
	} else {
		/* the supervisor was killed: the step went with it (PR_SET_PDEATHSIG), its orphans came to us */
		r->sup_lost = true;
		r->status = SIGKILL; /* a wait status: killed by SIGKILL */
		memset(&r->ru, 0, sizeof(r->ru));
	}
	r->reaped = true;
	r->out->wall_ms = (mono_ns() - r->start_ns) / 1000000ULL;
}

/*
 * Let the supervisor go and reap it. `quit` after a normal end: it exits
 * and leaves the cgroup to pf_guard_finish and pf_guard_free; else it ends
 * whatever is left of the tree and removes the cgroup, as when pteflow dies.
 */
static void stop_supervisor(run *r, bool quit)
{
	if (r->life_w >= 0) {
		char c = PF_PROC_LIFELINE_QUIT;
		if (quit && write(r->life_w, &c, 1) != 1)
			pf_log_warn("cannot tell the supervisor of step \"%s\" to exit: %s", r->s.name, strerror(errno));
		close(r->life_w);
		r->life_w = -1;
	}
	if (r->sup > 0)
		while (waitpid(r->sup, NULL, 0) < 0 && errno == EINTR)
			;
	r->sup = -1;
	if (r->sup_lost && r->pid > 0)
		(void)waitpid(r->pid, NULL, WNOHANG); /* came back to us when its supervisor died */
}

/*
 * Fork the supervisor, which forks the step; it says the step's pid, then
 * the close-on-exec error pipe says whether execve succeeded.
 */
static int start(run *r, const char *path)
{
	sigset_t block, old_mask;
	ssize_t rd;
	int report[2] = {0, 0}, life[2] = {-1, -1}, status[2] = {-1, -1}, got = 0, rc = 0;
	pf_proc_msg m;
	if (pipe2(r->out_pipe, O_CLOEXEC) != 0 || pipe2(r->err_pipe, O_CLOEXEC) != 0 || pipe2(life, O_CLOEXEC) != 0 ||
	    pipe2(status, O_CLOEXEC) != 0) {
		rc = pf_error_errno("cannot create a pipe for step \"%s\"", r->s.name);
		goto done;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old_mask);
	r->start_ns = mono_ns();
	r->sup = fork();
	if (r->sup == 0) {
		pf_proc_sup_fds fds = {life[0], status[1], r->out_pipe[1], r->err_pipe[1]};
		pf_proc_supervise(r->spec, path, r->g, fds);
	}
	r->life_w = life[1];
	r->status_r = status[0];
	life[1] = status[0] = -1;
	close(status[1]);
	status[1] = -1;
	if (r->sup > 0) {
		pf_guard_set_supervisor(r->g, r->sup);
		got = read_msg(r, &m, -1);
		if (got == 1 && m.kind == PF_PROC_MSG_STARTED && m.pid > 0) {
			r->pid = m.pid;
			running_pgid = r->pid;
			(void)pf_guard_parent_attach(r->g, r->pid);
		}
	}
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	if (r->sup < 0) {
		rc = pf_error_errno("cannot start step \"%s\"", r->s.name);
		goto done;
	}
	if (r->pid <= 0) {
		rc = pf_error_code(PF_EENV, "cannot start step \"%s\": %s", r->s.name,
		                   got == 1 && m.pid < 0 ? strerror(-m.pid) : "its supervisor ended at once");
		goto done;
	}
	close(r->out_pipe[1]);
	close(r->err_pipe[1]);
	r->out_pipe[1] = r->err_pipe[1] = -1;
	do {
		rd = read(r->err_pipe[0], report, sizeof(report));
	} while (rd < 0 && errno == EINTR);
	if (rd == (ssize_t)sizeof(report)) {
		spawn_message(r->out, r->spec, path, report);
		r->out->end = PF_END_SPAWN;
		check_exit(r, -1);
		r->out->wall_ms = 0;
		r->eof = true;
	}
	if (r->spec->timeout_ms) {
		/* saturating: a timeout too large to count in nanoseconds is no deadline, never an instant one */
		uint64_t ns;
		if (pf_mul_overflow(r->spec->timeout_ms, 1000000ULL, &ns) || pf_add_overflow(r->start_ns, ns, &r->deadline))
			r->deadline = UINT64_MAX;
	}
done:
	for (int i = 0; i < 2; i++) {
		if (life[i] >= 0)
			close(life[i]);
		if (status[i] >= 0)
			close(status[i]);
	}
	return rc;
}

/* Begin stopping the tree for `why` (SIGTERM now, SIGKILL after the grace). */
static void begin_stop(run *r, enum reason why, uint64_t now)
{
	r->reason = why;
	(void)pf_guard_signal_tree(r->g, r->pid, SIGTERM);
	r->kill_at = now + r->grace_ns;
}

/* Act on the clock, the flags and the guard; returns how long poll() may sleep. */
static int tick(run *r)
{
	uint64_t now;
	int timeout_ms = 100, gi;
	check_exit(r, 0);
	now = mono_ns();
	if (interrupted && r->reason == R_NONE)
		begin_stop(r, R_INTERRUPT, now);
	if (r->deadline && now >= r->deadline && r->reason == R_NONE)
		begin_stop(r, R_TIMEOUT, now);
	if (hard_stop && r->reason != R_NONE && !r->kill_sent) {
		(void)pf_guard_signal_tree(r->g, r->pid, SIGKILL);
		r->kill_sent = true;
	}
	if (!r->reaped && r->reason == R_NONE && pf_guard_poll(r->g)) {
		r->reason = R_MEMORY;
		(void)pf_guard_signal_tree(r->g, r->pid, SIGKILL);
		r->kill_sent = true;
	}
	if (r->kill_at && now >= r->kill_at && !r->kill_sent) {
		(void)pf_guard_signal_tree(r->g, r->pid, SIGKILL);
		r->kill_sent = true;
	}
	if (r->reaped && !r->eof && !r->leftovers_killed && (r->reason == R_NONE || r->kill_sent)) {
		/* the step exited but something it started still holds the pipe */
		(void)pf_guard_signal_tree(r->g, r->pid, SIGKILL);
		r->leftovers_killed = true;
		r->drain_until = now + DRAIN_MS * 1000000ULL;
	}
	if (r->deadline && r->reason == R_NONE)
		timeout_ms = ms_until(now, r->deadline, timeout_ms);
	if (r->kill_at && !r->kill_sent)
		timeout_ms = ms_until(now, r->kill_at, timeout_ms);
	gi = r->reaped ? -1 : pf_guard_poll_interval_ms(r->g);
	if (gi >= 0 && gi < timeout_ms)
		timeout_ms = gi;
	if (r->reaped && !r->eof && timeout_ms > 10)
		timeout_ms = 10;
	return timeout_ms;
}

/* The event loop: output, child exit, timeout, interrupt, watchdog. */
static int watch(run *r)
{
	int rc = 0;
	while (!(r->reaped && r->eof)) {
		struct pollfd pfd[3];
		nfds_t nfds = 0;
		int timeout_ms = tick(r);
		if (r->reaped && r->eof)
			break;
		if (r->leftovers_killed && mono_ns() >= r->drain_until)
			break;
		if (!r->eof) {
			pfd[nfds].fd = r->out_pipe[0];
			pfd[nfds++].events = POLLIN;
		}
		pfd[nfds].fd = self_pipe[0];
		pfd[nfds++].events = POLLIN;
		if (!r->reaped) {
			/* the supervisor's word that the step ended (no SIGCHLD: the step is not our child) */
			pfd[nfds].fd = r->status_r;
			pfd[nfds++].events = POLLIN;
		}
		if (poll(pfd, nfds, timeout_ms) < 0 && errno != EINTR) {
			rc = pf_error_errno("poll failed while running step \"%s\"", r->s.name);
			break;
		}
		if (!r->eof && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[READ_CHUNK];
			ssize_t n = read(r->out_pipe[0], buf, sizeof(buf));
			if (n > 0) {
				uint64_t ms = (mono_ns() - r->start_ns) / 1000000ULL;
				pf_proc_sink_feed(&r->s, buf, (size_t)n, false);
				pf_proc_phase_feed(&r->phase, buf, (size_t)n, ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms,
				                   r->out);
			}
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				r->eof = true;
		}
		drain_self_pipe();
	}
	if (!r->reaped) {
		/* poll failed: do not leave the tree behind */
		(void)pf_guard_signal_tree(r->g, r->pid, SIGKILL);
		check_exit(r, -1);
	}
	return rc;
}

/* Resources, guard verdict and the end of the step. */
static void classify(run *r)
{
	pf_proc_result *out = r->out;
	int st = r->status;
	if (out->end != PF_END_SPAWN) {
		if (WIFEXITED(st))
			out->exit_code = WEXITSTATUS(st);
		else if (WIFSIGNALED(st))
			out->signal = WTERMSIG(st);
	}
	out->user_ms = (uint64_t)r->ru.ru_utime.tv_sec * 1000 + (uint64_t)r->ru.ru_utime.tv_usec / 1000;
	out->sys_ms = (uint64_t)r->ru.ru_stime.tv_sec * 1000 + (uint64_t)r->ru.ru_stime.tv_usec / 1000;
	out->maxrss_bytes = (uint64_t)r->ru.ru_maxrss * 1024ULL; /* ru_maxrss is KiB on Linux */
	pf_guard_finish(r->g, out->maxrss_bytes, out->signal, &out->guard);
	if (out->end == PF_END_SPAWN)
		return;
	if (r->reason == R_INTERRUPT)
		out->end = PF_END_INTERRUPTED;
	else if (r->reason == R_TIMEOUT)
		out->end = PF_END_TIMEOUT;
	else if (r->reason == R_MEMORY)
		out->end = PF_END_MEMORY;
	else if (WIFEXITED(st) && out->exit_code == 0)
		out->end = PF_END_OK;
	else if (out->guard.memory_kill)
		out->end = PF_END_MEMORY; /* the kernel OOM killer in our cgroup, or outside it with evidence */
	else if (WIFEXITED(st))
		out->end = PF_END_EXIT;
	else
		out->end = PF_END_SIGNAL;
}

int pf_proc_run(pf_proc_result *out, const pf_proc_spec *spec)
{
	run r;
	char *path = NULL;
	struct sigaction sa, old_chld;
	bool chld_installed = false, classified = false;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	r.spec = spec;
	r.out = out;
	r.pid = -1;
	r.sup = -1;
	r.life_w = r.status_r = -1;
	r.out_pipe[0] = r.out_pipe[1] = r.err_pipe[0] = r.err_pipe[1] = -1;
	r.grace_ns = (spec->grace_ms ? spec->grace_ms : DEFAULT_GRACE_MS) * 1000000ULL;
	out->guard.mode = spec->guard_mode;
	if ((rc = pf_proc_sink_open(&r.s, spec)) != 0 || (rc = ensure_self_pipe()) != 0)
		goto done;
	path = resolve(spec->argv ? spec->argv[0] : NULL, spec->envp, out->spawn_error, sizeof(out->spawn_error));
	if (!path) {
		out->end = PF_END_SPAWN;
		out->exit_code = 127;
		goto done;
	}
	if ((rc = pf_guard_new(&r.g, spec->guard_mode, spec->memory_limit_bytes)) != 0)
		goto done;
	pf_guard_set_sampling(r.g, spec->sample_ms);
	/* orphans of the step come back to us, not to init: see guard.h */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	chld_installed = sigaction(SIGCHLD, &sa, &old_chld) == 0;
	drain_self_pipe();
	if ((rc = start(&r, path)) != 0)
		goto done;
	rc = watch(&r);
	/* nothing the step started may outlive it, even after a clean exit */
	sweep(r.g, r.pid);
	stop_supervisor(&r, true);
	running_pgid = 0;
	classify(&r);
	classified = true;
	if (out->end == PF_END_INTERRUPTED && rc == 0)
		rc = pf_error_code(PF_EINTR, "step \"%s\" was stopped because pteflow was interrupted", r.s.name);
done:
	if (rc < 0 && !classified && out->end == PF_END_OK) {
		/* set-up failed (guard, pipes, fork): never a success, which the store would keep */
		out->end = PF_END_SPAWN;
		snprintf(out->spawn_error, sizeof(out->spawn_error), "%s", pf_error_last());
	}
	if (chld_installed)
		(void)sigaction(SIGCHLD, &old_chld, NULL);
	if (r.s.name && (rc == 0 || rc == PF_EINTR)) {
		pf_proc_sink_finish(&r.s, out);
		if (r.s.write_errno)
			pf_log_warn("the log \"%s\" is incomplete: %s", spec->log_path, strerror(r.s.write_errno));
	}
	pf_proc_sink_dispose(&r.s);
	stop_supervisor(&r, false);
	if (r.status_r >= 0)
		close(r.status_r);
	pf_guard_free(r.g);
	for (int i = 0; i < 2; i++) {
		if (r.out_pipe[i] >= 0)
			close(r.out_pipe[i]);
		if (r.err_pipe[i] >= 0)
			close(r.err_pipe[i]);
	}
	free(path);
	return rc;
}

static void fmt_size(char *buf, size_t cap, uint64_t bytes)
{
	if (bytes >= (1ULL << 30))
		snprintf(buf, cap, "%.1f GiB", (double)bytes / (double)(1ULL << 30));
	else
		snprintf(buf, cap, "%.0f MiB", (double)bytes / (double)(1ULL << 20));
}

char *pf_proc_describe(const pf_proc_result *r)
{
	char lim[32], peak[32];
	fmt_size(lim, sizeof(lim), r->guard.limit_bytes);
	fmt_size(peak, sizeof(peak), r->guard.peak_bytes);
	switch (r->end) {
	case PF_END_OK:
		return pf_xstrdup("exited with status 0");
	case PF_END_EXIT:
		return pf_xasprintf("exited with status %d", r->exit_code);
	case PF_END_SIGNAL:
		return pf_xasprintf("was killed by signal %d (%s)", r->signal, strsignal(r->signal));
	case PF_END_TIMEOUT:
		return pf_xasprintf("timed out after %.1f s and was stopped", (double)r->wall_ms / 1000.0);
	case PF_END_MEMORY:
		if (r->guard.limit_bytes)
			return pf_xasprintf("was killed: it exceeded its memory limit of %s (peak %s, guard %s)", lim,
			                    peak, pf_guard_mode_name(r->guard.mode));
		return pf_xasprintf("was killed for lack of memory by the kernel (peak %s, %s)", peak, r->guard.detail);
	case PF_END_INTERRUPTED:
		return pf_xstrdup("was stopped because pteflow was interrupted");
	case PF_END_SPAWN:
		return pf_xasprintf("could not start: %s", r->spawn_error[0] ? r->spawn_error : "unknown reason");
	}
	return pf_xstrdup("ended in an unknown way");
}
