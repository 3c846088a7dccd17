/*
 * The step's supervisor and the step's own start, for proc.c (see
 * internal.h for why a supervisor sits between pteflow and the step). Both
 * run in forks of pteflow, which may have threads: nothing here but
 * async-signal-safe calls (no malloc, no stdio) until the step's execve.
 * One supervisor per step run; it sleeps in poll() while the step runs and
 * wakes on the step's children ending and on pteflow's lifeline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/internal.h"

#define END_TREE_ROUNDS 400 /* x 5 ms: give up after about 2 s (a process stuck in the kernel) */

/*
 * Close every descriptor above stderr except those in keep[0..n). pteflow
 * opens its own with O_CLOEXEC, but not what it inherited or what a library
 * opened without it; neither the supervisor nor the step may hold them (a
 * pipe kept open, a lock, a socket).
 */
static void close_fds_except(const int *keep, size_t n)
{
	int sorted[8], max_fd = 65536, lo = 3;
	size_t m = 0;
	struct rlimit rl;
	bool ranged = true;
	for (size_t i = 0; i < n && m < 8; i++) {
		size_t k = m++;
		if (keep[i] <= STDERR_FILENO) {
			m--;
			continue;
		}
		while (k > 0 && sorted[k - 1] > keep[i]) {
			sorted[k] = sorted[k - 1];
			k--;
		}
		sorted[k] = keep[i];
	}
#ifdef SYS_close_range
	/* Linux >= 5.9: one call per gap */
	for (size_t i = 0; i <= m && ranged; i++) {
		unsigned hi = i < m ? (unsigned)sorted[i] - 1U : ~0U;
		if (i < m && sorted[i] < lo) /* a duplicate */
			continue;
		if (hi >= (unsigned)lo && syscall(SYS_close_range, (unsigned)lo, hi, 0U) != 0)
			ranged = false;
		if (i < m)
			lo = sorted[i] + 1;
	}
	if (ranged)
		return;
#else
	(void)ranged;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max_fd)
		max_fd = (int)rl.rlim_cur;
	for (int fd = 3; fd < max_fd; fd++) {
		bool kept = false;
		for (size_t i = 0; i < m; i++)
			kept = kept || sorted[i] == fd;
		if (!kept)
			(void)close(fd);
	}
}

/* The step: in the supervisor's child, nothing but async-signal-safe calls until execve. */
static _Noreturn void child(const pf_proc_spec *spec, const char *path, pf_guard *g, pid_t supervisor, int out_w,
                            int err_w)
{
	int report[2] = {0, 0}, fd, rc;
	static const int reset[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD};
	struct sigaction sa;
	sigset_t empty;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		(void)sigaction(reset[i], &sa, NULL);
	sigemptyset(&empty);
	(void)sigprocmask(SIG_SETMASK, &empty, NULL);
	(void)setpgid(0, 0);
	/* should the supervisor itself be killed, the step goes with it (its descendants are the supervisor's job) */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != supervisor)
		_exit(127);
	rc = pf_guard_child_enter(g);
	if (rc != 0) {
		report[0] = PF_PROC_STAGE_CGROUP;
		report[1] = -rc;
		goto fail;
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 || dup2(out_w, STDERR_FILENO) < 0) {
		report[0] = PF_PROC_STAGE_STDIO;
		report[1] = errno;
		goto fail;
	}
	close_fds_except(&err_w, 1);
	if (spec->cwd && chdir(spec->cwd) != 0) {
		report[0] = PF_PROC_STAGE_CWD;
		report[1] = errno;
		goto fail;
	}
	execve(path, spec->argv, spec->envp);
	report[0] = PF_PROC_STAGE_EXEC;
	report[1] = errno;
fail : {
	ssize_t w = write(err_w, report, sizeof(report));
	(void)w;
}
	_exit(127);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * End whatever is left of the step's tree and reap it: its group while the
 * step is not reaped (its pid cannot be reused until then), the members of
 * its cgroup, and every descendant, until no child is left. When pteflow is
 * gone (`orphaned`), the cgroup is removed too; otherwise pteflow still
 * reads the group's figures and removes it.
 */
static void end_tree(pid_t step, bool step_reaped, pf_guard *g, bool orphaned)
{
	pid_t pid;
	for (int round = 0; round < END_TREE_ROUNDS; round++) {
		if (!step_reaped)
			(void)kill(-step, SIGKILL);
		pf_guard_kill_all(g);
		(void)pf_guard_kill_children();
		while ((pid = wait4(-1, NULL, WNOHANG, NULL)) > 0)
			step_reaped = step_reaped || pid == step;
		if (pid < 0 && errno == ECHILD)
			break;
		sleep_ms(round < 10 ? 1 : 5);
	}
	if (orphaned)
		pf_guard_abandon(g);
}

static void send_msg(int fd, const pf_proc_msg *m)
{
	ssize_t w;
	do {
		w = write(fd, m, sizeof(*m)); /* below PIPE_BUF: all or nothing */
	} while (w < 0 && errno == EINTR);
}

/* Reap what ended; tell pteflow when it is the step. Returns true once the step was reaped. */
static bool reap(int status_w, pid_t step, bool step_reaped)
{
	pf_proc_msg m;
	pid_t pid;
	int st;
	struct rusage ru;
	while ((pid = wait4(-1, &st, WNOHANG, &ru)) > 0) {
		if (pid != step)
			continue; /* an orphan of the step that came back to us */
		memset(&m, 0, sizeof(m));
		m.kind = PF_PROC_MSG_EXITED;
		m.pid = pid;
		m.status = st;
		m.ru = ru;
		send_msg(status_w, &m);
		step_reaped = true;
	}
	return step_reaped;
}

_Noreturn void pf_proc_supervise(const pf_proc_spec *spec, const char *path, pf_guard *g, pf_proc_sup_fds fds)
{
	static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};
	int keep[4] = {fds.lifeline_r, fds.status_w, fds.out_w, fds.err_w}, sfd;
	pid_t self = getpid(), step;
	bool step_reaped = false, orphaned = true;
	struct sigaction sa;
	sigset_t chld;
	pf_proc_msg m;

	/*
	 * The supervisor outlives pteflow to clean up after it: it ignores what
	 * interrupts pteflow, and a group of its own keeps it out of a kill of
	 * pteflow's process group. pteflow's handlers must not run here.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		(void)sigaction(ignored[i], &sa, NULL);
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	(void)sigprocmask(SIG_SETMASK, &chld, NULL);
	(void)setpgid(0, 0);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	close_fds_except(keep, 4);
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

	step = fork();
	if (step == 0)
		child(spec, path, g, self, fds.out_w, fds.err_w);
	memset(&m, 0, sizeof(m));
	m.kind = PF_PROC_MSG_STARTED;
	m.pid = step > 0 ? step : -errno;
	if (step > 0)
		(void)setpgid(step, step); /* also in the child: whichever runs first */
	send_msg(fds.status_w, &m);
	close(fds.out_w);
	close(fds.err_w);
	if (step < 0)
		_exit(1);

	for (;;) {
		struct pollfd pfd[2] = {{fds.lifeline_r, POLLIN, 0}, {sfd, POLLIN, 0}};
		struct signalfd_siginfo si;
		char c;
		ssize_t n;
		/* without signalfd, look for ended children every 10 ms */
		(void)poll(pfd, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 10);
		while (sfd >= 0 && read(sfd, &si, sizeof(si)) > 0)
			;
		step_reaped = reap(fds.status_w, step, step_reaped);
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fds.lifeline_r, &c, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		orphaned = !(n == 1 && c == PF_PROC_LIFELINE_QUIT);
		break;
	}
	end_tree(step, step_reaped, g, orphaned);
	_exit(0);
}
