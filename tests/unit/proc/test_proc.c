/*
 * Tests of src/proc/ with real processes on the real kernel: exit codes and
 * signals, spawn failures, the log (capture, redaction of a secret split
 * across writes, SHA-256, megabytes without deadlock), timeouts that leave
 * no process behind (setsid grandchildren included), pteflow's own SIGTERM,
 * and the memory guards (each mechanism this host supports; the others are
 * skipped with the reason). Helpers: tests/tools/alloc.c, spawn_tree.c.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "proc/proc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define ALLOC PF_BINARY_DIR "/tests/pf_tool_alloc"
#define SPAWN_TREE PF_BINARY_DIR "/tests/pf_tool_spawn_tree"
#define MIB (1024ULL * 1024ULL)

static const char *env_min[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};
static char tmpdir[256];

static void setup_tmp(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/pf-proc-XXXXXX", base && *base ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown_tmp(void)
{
	pf_fs_remove_tree(tmpdir);
	pf_secret_clear();
}

static char *tmp_path(const char *name)
{
	return pf_xasprintf("%s/%s", tmpdir, name);
}

static void spec_init(pf_proc_spec *s, const char *const *argv)
{
	memset(s, 0, sizeof(*s));
	s->name = "t";
	s->argv = (char *const *)argv;
	s->envp = (char *const *)env_min;
	s->guard_mode = PF_GUARD_NONE;
}

static char *slurp(const char *path)
{
	pf_buf b;
	pf_buf_init(&b, 64 << 20);
	cr_assert_eq(pf_fs_read_file(&b, path, b.max), 0, "cannot read %s", path);
	return pf_buf_detach(&b);
}

/* Resident memory of this process now. */
static uint64_t rss_now(void)
{
	char *text = slurp("/proc/self/statm"), *p = strchr(text, ' ');
	uint64_t pages = p ? strtoull(p + 1, NULL, 10) : 0;
	free(text);
	return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

TestSuite(proc_end, .init = setup_tmp, .fini = teardown_tmp);

Test(proc_end, success_and_exit_codes)
{
	const char *ok[] = {"true", NULL}, *three[] = {"sh", "-c", "exit 3", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, ok);
	cr_assert_eq(pf_proc_run(&r, &s), 0, "%s", pf_error_last());
	cr_assert_eq(r.end, PF_END_OK);
	cr_assert_eq(r.exit_code, 0);
	spec_init(&s, three);
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_EXIT);
	cr_assert_eq(r.exit_code, 3);
	char *d = pf_proc_describe(&r);
	cr_assert_str_eq(d, "exited with status 3");
	free(d);
	cr_assert_str_eq(pf_proc_end_name(r.end), "failed");
}

Test(proc_end, a_timeout_too_large_to_count_is_no_deadline)
{
	/* timeout x 10^6 ns overflows 64 bits: it must not wrap into a deadline in the past */
	const char *argv[] = {"sh", "-c", "sleep 0.2", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.timeout_ms = UINT64_MAX / 1000;
	cr_assert_eq(pf_proc_run(&r, &s), 0, "%s", pf_error_last());
	cr_assert_eq(r.end, PF_END_OK, "ended %s", pf_proc_end_name(r.end));
}

Test(proc_end, killed_by_signal)
{
	const char *segv[] = {"sh", "-c", "kill -SEGV $$", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, segv);
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_SIGNAL);
	cr_assert_eq(r.signal, SIGSEGV);
	char *d = pf_proc_describe(&r);
	cr_assert(strstr(d, "killed by signal 11") != NULL, "%s", d);
	free(d);
}

Test(proc_end, command_not_found_is_a_spawn_failure)
{
	const char *argv[] = {"pf-no-such-command-here", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_SPAWN);
	cr_assert(strstr(r.spawn_error, "\"pf-no-such-command-here\" was not found") != NULL, "%s", r.spawn_error);
	char *d = pf_proc_describe(&r);
	cr_assert(strncmp(d, "could not start: ", 17) == 0, "%s", d);
	free(d);
}

Test(proc_end, a_guard_that_cannot_be_set_up_is_never_a_success)
{
	/* the run engine stores a step whose end is PF_END_OK: a step that never ran must not look like one */
	const char *argv[] = {"/bin/true", NULL};
	pf_guard_mode mode = PF_GUARD_CGROUP2;
	char *dir = pf_guard_cgroup_parent(mode);
	pf_proc_spec s;
	pf_proc_result r;
	if (dir) {
		free(dir);
		mode = PF_GUARD_CGROUP1;
		dir = pf_guard_cgroup_parent(mode);
	}
	if (dir) {
		free(dir);
		cr_skip_test("both cgroup guards work on this host: none fails to set up");
	}
	spec_init(&s, argv);
	s.guard_mode = mode;
	s.memory_limit_bytes = 64 * MIB;
	cr_assert_lt(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_SPAWN, "%s", pf_proc_end_name(r.end));
	cr_assert(strstr(r.spawn_error, "is not available here") != NULL, "%s", r.spawn_error);
}

Test(proc_end, exec_failure_is_a_spawn_failure)
{
	const char *argv[] = {"/dev/null", NULL}; /* not executable: execve fails with EACCES */
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_SPAWN);
	cr_assert(strstr(r.spawn_error, "\"/dev/null\": Permission denied") != NULL, "%s", r.spawn_error);
}

Test(proc_end, bad_working_folder_is_a_spawn_failure)
{
	const char *argv[] = {"true", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.cwd = "/nonexistent-pf-folder";
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_SPAWN);
	cr_assert(strstr(r.spawn_error, "working folder") != NULL, "%s", r.spawn_error);
}

Test(proc_end, records_time_and_cpu)
{
	const char *argv[] = {"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 0.2", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.cwd = tmpdir;
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_OK);
	cr_assert(r.wall_ms >= 200 && r.wall_ms < 5000, "wall %lu", (unsigned long)r.wall_ms);
	cr_assert(r.user_ms + r.sys_ms > 0, "no cpu time recorded");
	cr_assert(r.maxrss_bytes > 100 * 1024, "maxrss %lu", (unsigned long)r.maxrss_bytes);
}

Test(proc_end, the_step_gets_only_stdin_stdout_and_stderr)
{
	/* a descriptor pteflow holds without close-on-exec (inherited, or opened by a library) */
	const char *argv[] = {"sh", "-c", "ls /proc/$$/fd; readlink /proc/$$/fd/0", NULL};
	char *log = tmp_path("fds.log"), *text;
	int fd = open("/dev/null", O_RDONLY);
	pf_proc_spec s;
	pf_proc_result r;
	cr_assert_geq(fd, 0);
	cr_assert_eq(dup2(fd, 57), 57);
	spec_init(&s, argv);
	s.log_path = log;
	cr_assert_eq(pf_proc_run(&r, &s), 0, "%s", pf_error_last());
	close(57);
	close(fd);
	cr_assert_eq(r.end, PF_END_OK);
	text = slurp(log);
	cr_assert_str_eq(text, "0\n1\n2\n/dev/null\n", "the step inherited other descriptors:\n%s", text);
	free(text);
	free(log);
}

TestSuite(proc_log, .init = setup_tmp, .fini = teardown_tmp);

static void sha_file(const char *path, char hex[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	char *data = slurp(path);
	size_t len = strlen(data);
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	free(data);
}

Test(proc_log, captures_and_redacts_a_secret_split_across_writes)
{
	/* the secret reaches the pipe in two writes 150 ms apart */
	const char *argv[] = {
	    "sh", "-c", "echo before; printf 'tok=hf_SeCrEt'; sleep 0.15; printf 'Value123 after\\n'; echo err >&2",
	    NULL};
	char *log = tmp_path("step.log"), *text, hex[65];
	pf_proc_spec s;
	pf_proc_result r;
	pf_secret_add("hf_SeCrEtValue123");
	spec_init(&s, argv);
	s.log_path = log;
	s.echo = true;
	cr_assert_eq(pf_proc_run(&r, &s), 0, "%s", pf_error_last());
	cr_assert_eq(r.end, PF_END_OK);
	text = slurp(log);
	cr_assert_str_eq(text, "before\ntok=*** after\nerr\n");
	cr_assert_eq(r.log_bytes, strlen(text));
	sha_file(log, hex);
	cr_assert_str_eq(r.log_sha256, hex);
	free(text);
	free(log);
}

Test(proc_log, megabytes_of_output_do_not_deadlock)
{
	const char *argv[] = {
	    "sh", "-c", "head -c 6000000 /dev/zero | tr '\\0' 'a'; echo; head -c 3000000 /dev/zero | tr '\\0' 'b' >&2",
	    NULL};
	char *log = tmp_path("big.log");
	uint64_t size = 0;
	pf_proc_spec s;
	pf_proc_result r;
	pf_secret_add("aaaab-not-there");
	spec_init(&s, argv);
	s.log_path = log;
	s.timeout_ms = 20000;
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_OK, "end %s", pf_proc_end_name(r.end));
	cr_assert_eq(pf_fs_size(&size, log), 0);
	cr_assert_eq(size, 9000001);
	cr_assert_eq(r.log_bytes, 9000001);
	free(log);
}

/*
 * Live heap bytes under AddressSanitizer (whose quarantine keeps freed
 * memory resident, so RSS cannot tell a leak from churn); NULL otherwise.
 */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static volatile int sampling;
static size_t peak_live;

static void *sample_live(void *arg)
{
	(void)arg;
	while (sampling) {
		size_t n = __sanitizer_get_current_allocated_bytes();
		if (n > peak_live)
			peak_live = n;
		usleep(500);
	}
	return NULL;
}

Test(proc_log, a_huge_line_echoed_live_keeps_pteflow_memory_flat)
{
	/* 96 MiB without a newline, echoed and logged, with a secret to watch for: the log grows, pteflow does not */
	const char *argv[] = {"sh", "-c", "head -c 100663296 /dev/zero | tr '\\0' 'a'", NULL};
	char *log = tmp_path("huge.log");
	struct rusage ru;
	uint64_t size = 0, growth = UINT64_MAX, base_rss = rss_now();
	pid_t runner;
	int st, p[2];
	cr_assert_eq(pipe(p), 0);
	fflush(NULL);
	runner = fork();
	cr_assert_geq(runner, 0);
	if (runner == 0) {
		pf_proc_spec s;
		pf_proc_result r;
		pthread_t t;
		size_t base_live = 0;
		int null = open("/dev/null", O_WRONLY), ok;
		close(p[0]);
		if (null < 0 || dup2(null, STDERR_FILENO) < 0)
			_exit(2);
		pf_secret_add("hf_NotInTheOutput123");
		spec_init(&s, argv);
		s.log_path = log;
		s.echo = true;
		s.timeout_ms = 60000;
		if (__sanitizer_get_current_allocated_bytes) {
			base_live = peak_live = __sanitizer_get_current_allocated_bytes();
			sampling = 1;
			if (pthread_create(&t, NULL, sample_live, NULL) != 0)
				_exit(3);
		}
		ok = pf_proc_run(&r, &s) == 0 && r.end == PF_END_OK && r.log_bytes == 100663296;
		if (__sanitizer_get_current_allocated_bytes) {
			uint64_t live_growth;
			sampling = 0;
			pthread_join(t, NULL);
			live_growth = peak_live - base_live;
			if (write(p[1], &live_growth, sizeof(live_growth)) != (ssize_t)sizeof(live_growth))
				_exit(4);
		}
		_exit(ok ? 42 : 1);
	}
	close(p[1]);
	if (read(p[0], &growth, sizeof(growth)) != (ssize_t)sizeof(growth))
		growth = UINT64_MAX;
	close(p[0]);
	cr_assert_eq(wait4(runner, &st, 0, &ru), runner);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 42, "runner status %d", st);
	cr_assert_eq(pf_fs_size(&size, log), 0);
	cr_assert_eq(size, 100663296);
	if (__sanitizer_get_current_allocated_bytes)
		cr_assert_lt(growth, 4 * MIB, "pteflow's heap grew by %lu KiB for a 96 MiB line",
		             (unsigned long)(growth / 1024));
	else
		cr_assert_lt((uint64_t)ru.ru_maxrss * 1024, base_rss + 32 * MIB,
		             "pteflow grew to %ld KiB for a 96 MiB line", ru.ru_maxrss);
	free(log);
}

Test(proc_log, unwritable_log_is_a_setup_error)
{
	const char *argv[] = {"true", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.log_path = "/nonexistent-pf-folder/x.log";
	cr_assert_lt(pf_proc_run(&r, &s), 0);
	cr_assert(strstr(pf_error_last(), "x.log") != NULL, "%s", pf_error_last());
}

/* ---- trees, timeouts, interrupts ---- */

static int read_pids(const char *path, pid_t *pids, int max)
{
	char *text;
	int n = 0;
	pf_buf b;
	pf_buf_init(&b, 4096);
	if (pf_fs_read_file(&b, path, b.max) != 0) {
		pf_buf_dispose(&b);
		return 0;
	}
	text = b.data;
	while (text && *text && n < max) {
		char *end;
		long v = strtol(text, &end, 10);
		if (end == text)
			break;
		pids[n++] = (pid_t)v;
		text = end;
		while (*text == '\n')
			text++;
	}
	pf_buf_dispose(&b);
	return n;
}

static bool alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	bool live;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	live = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (live) {
		char *p = strrchr(buf, ')');
		live = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	}
	return live;
}

static void assert_all_gone(const pid_t *pids, int n)
{
	for (int tries = 0; tries < 100; tries++) {
		int live = 0;
		for (int i = 0; i < n; i++)
			live += alive(pids[i]);
		if (live == 0)
			return;
		usleep(10000);
	}
	for (int i = 0; i < n; i++)
		cr_assert(!alive(pids[i]), "process %d of the step survived", (int)pids[i]);
}

static void run_tree_timeout(bool ignore_term)
{
	char *pidfile = tmp_path("pids");
	const char *argv[] = {SPAWN_TREE, pidfile, ignore_term ? "--ignore-term" : NULL, NULL};
	pid_t pids[16];
	int n;
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.timeout_ms = 600;
	s.grace_ms = 300;
	cr_assert_eq(pf_proc_run(&r, &s), 0, "%s", pf_error_last());
	cr_assert_eq(r.end, PF_END_TIMEOUT, "end %s", pf_proc_end_name(r.end));
	cr_assert(r.wall_ms >= 600, "stopped after %lu ms", (unsigned long)r.wall_ms);
	n = read_pids(pidfile, pids, 16);
	cr_assert_eq(n, 6, "the tree recorded %d pids, expected 6", n);
	assert_all_gone(pids, n);
	char *d = pf_proc_describe(&r);
	cr_assert(strstr(d, "timed out") != NULL, "%s", d);
	free(d);
	free(pidfile);
}

TestSuite(proc_tree, .init = setup_tmp, .fini = teardown_tmp);

Test(proc_tree, timeout_kills_the_whole_tree_including_setsid_grandchildren)
{
	run_tree_timeout(false);
}

Test(proc_tree, timeout_kills_a_tree_that_ignores_sigterm_after_the_grace)
{
	run_tree_timeout(true);
}

Test(proc_tree, leftovers_of_a_clean_exit_are_killed)
{
	char *pidfile = tmp_path("pids");
	char *script = pf_xasprintf("setsid sh -c 'echo $$ >> %s; exec sleep 60' > /dev/null 2>&1 & "
	                            "sleep 60 & echo $! >> %s; sleep 0.2; exit 0",
	                            pidfile, pidfile);
	const char *argv[] = {"sh", "-c", script, NULL};
	pid_t pids[4];
	int n;
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.timeout_ms = 5000;
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_OK, "end %s", pf_proc_end_name(r.end));
	cr_assert(r.wall_ms < 3000, "waited %lu ms for leftovers", (unsigned long)r.wall_ms);
	n = read_pids(pidfile, pids, 4);
	cr_assert_eq(n, 2);
	assert_all_gone(pids, n);
	free(script);
	free(pidfile);
}

static int count_step_cgroups(const char *dir)
{
	DIR *d;
	struct dirent *de;
	int n = 0;
	if (!dir)
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "pteflow-", 8) == 0;
	closedir(d);
	return n;
}

Test(proc_tree, sigterm_to_pteflow_stops_the_step_and_leaves_nothing_behind)
{
	char *pidfile = tmp_path("pids");
	const char *argv[] = {SPAWN_TREE, pidfile, NULL};
	pf_guard_mode mode = pf_guard_detect();
	char *cgdir = pf_guard_cgroup_parent(mode);
	int before = count_step_cgroups(cgdir), during = -1, st = 0, n = 0;
	pid_t pids[16], runner;
	fflush(NULL);
	runner = fork();
	cr_assert_geq(runner, 0);
	if (runner == 0) {
		pf_proc_spec s;
		pf_proc_result r;
		int rc;
		pf_proc_install_signal_handlers();
		spec_init(&s, argv);
		s.guard_mode = mode;
		s.memory_limit_bytes = 256 * MIB;
		s.timeout_ms = 20000;
		s.grace_ms = 300;
		rc = pf_proc_run(&r, &s);
		_exit(rc == PF_EINTR && r.end == PF_END_INTERRUPTED && pf_proc_interrupted() ? 42 : 1);
	}
	for (int i = 0; i < 300 && n < 6; i++) {
		usleep(10000);
		n = read_pids(pidfile, pids, 16);
	}
	cr_assert_eq(n, 6, "the tree did not start (%d pids)", n);
	during = count_step_cgroups(cgdir);
	kill(runner, SIGTERM);
	cr_assert_eq(waitpid(runner, &st, 0), runner);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 42, "runner status %d", st);
	assert_all_gone(pids, n);
	if (cgdir) {
		cr_assert_eq(during, before + 1, "guard %s made no cgroup in %s", pf_guard_mode_name(mode), cgdir);
		cr_assert_eq(count_step_cgroups(cgdir), before, "a cgroup was left in %s", cgdir);
	}
	free(cgdir);
	free(pidfile);
}

/* Wait up to `ms` for `pid`; false when it is still running (then it is killed). */
static bool wait_for(pid_t pid, int *st, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, st, WNOHANG) == pid)
			return true;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, st, 0);
	return false;
}

/* Kill whatever of `pids` is still alive and say how many were. */
static int kill_survivors(const pid_t *pids, int n)
{
	int live = 0;
	usleep(50000);
	for (int i = 0; i < n; i++) {
		if (alive(pids[i])) {
			live++;
			kill(pids[i], SIGKILL);
		}
	}
	return live;
}

Test(proc_tree, a_second_sigterm_kills_the_tree_at_once_and_still_reports_interrupted)
{
	/* watchdog mode: no cgroup to sweep, so the setsid grandchildren depend on pteflow's own walk */
	char *pidfile = tmp_path("pids");
	const char *argv[] = {SPAWN_TREE, pidfile, "--ignore-term", NULL};
	pid_t pids[16], runner;
	int st = 0, n = 0, survivors;
	bool ended;
	struct timespec t0, t1;
	fflush(NULL);
	runner = fork();
	cr_assert_geq(runner, 0);
	if (runner == 0) {
		pf_proc_spec s;
		pf_proc_result r;
		int rc;
		pf_proc_install_signal_handlers();
		spec_init(&s, argv);
		s.guard_mode = PF_GUARD_WATCHDOG;
		s.memory_limit_bytes = 256 * MIB;
		s.timeout_ms = 60000;
		s.grace_ms = 30000;
		rc = pf_proc_run(&r, &s);
		_exit(rc == PF_EINTR && r.end == PF_END_INTERRUPTED ? 42 : 1);
	}
	for (int i = 0; i < 300 && n < 6; i++) {
		usleep(10000);
		n = read_pids(pidfile, pids, 16);
	}
	cr_assert_eq(n, 6, "the tree did not start (%d pids)", n);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(runner, SIGTERM);
	usleep(100000);
	kill(runner, SIGTERM); /* the impatient second Ctrl-C: no 30 s grace */
	ended = wait_for(runner, &st, 10000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	survivors = kill_survivors(pids, n);
	cr_assert(ended, "pteflow did not stop after a second SIGTERM");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 42, "runner status %d: it must stop the step and report", st);
	cr_assert_eq(survivors, 0, "%d processes of the step survived", survivors);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 5, "the second signal waited for the grace");
	free(pidfile);
}

Test(proc_tree, a_closed_stderr_neither_kills_pteflow_nor_strands_the_step)
{
	/* `pteflow run ... 2>&1 | head`: the reader went away; the echo must not kill pteflow mid-step */
	char *pidfile = tmp_path("pids");
	char *script = pf_xasprintf("setsid sh -c 'echo $$ >> %s; exec sleep 60' > /dev/null 2>&1 & "
	                            "sleep 0.2; echo one; echo two; sleep 0.2",
	                            pidfile);
	const char *echo_argv[] = {"sh", "-c", script, NULL};
	const char *pipe_argv[] = {"sh", "-c", "kill -PIPE $$", NULL};
	pid_t pids[4], runner;
	int p[2], st = 0, n, survivors;
	cr_assert_eq(pipe(p), 0);
	fflush(NULL);
	runner = fork();
	cr_assert_geq(runner, 0);
	if (runner == 0) {
		pf_proc_spec s;
		pf_proc_result r1, r2;
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		close(p[1]);
		pf_proc_install_signal_handlers();
		/* pteflow ignores SIGPIPE; its steps must not inherit that */
		spec_init(&s, pipe_argv);
		if (pf_proc_run(&r1, &s) != 0 || r1.end != PF_END_SIGNAL || r1.signal != SIGPIPE)
			_exit(2);
		spec_init(&s, echo_argv);
		s.echo = true;
		s.guard_mode = PF_GUARD_WATCHDOG;
		s.timeout_ms = 10000;
		_exit(pf_proc_run(&r2, &s) == 0 && r2.end == PF_END_OK ? 42 : 1);
	}
	close(p[0]);
	close(p[1]);
	cr_assert(wait_for(runner, &st, 10000), "the runner hung");
	n = read_pids(pidfile, pids, 4);
	survivors = kill_survivors(pids, n);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 42, "runner status %d (signal %d)", st,
	          WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(survivors, 0, "the setsid grandchild survived");
	free(script);
	free(pidfile);
}

/* ---- memory guards ---- */

/* Skip (with the reason) when `mode` cannot work on this host. */
static void require_mode(pf_guard_mode mode)
{
	pf_guard *g = NULL;
	if (pf_guard_new(&g, mode, 64 * MIB) != 0)
		cr_skip_test("guard %s is not supported on this host: %s", pf_guard_mode_name(mode), pf_error_last());
	pf_guard_free(g);
}

static void run_alloc(pf_proc_result *r, pf_guard_mode mode, uint64_t limit, const char *mib, bool grandchild)
{
	const char *argv[] = {ALLOC, "--mib", mib, "--hold-ms", "400", grandchild ? "--grandchild" : NULL, NULL};
	pf_proc_spec s;
	spec_init(&s, argv);
	s.guard_mode = mode;
	s.memory_limit_bytes = limit;
	s.timeout_ms = 15000;
	cr_assert_eq(pf_proc_run(r, &s), 0, "%s", pf_error_last());
	cr_assert_eq(r->guard.mode, mode);
}

static void under_limit(pf_guard_mode mode, bool grandchild)
{
	pf_proc_result r;
	uint64_t want = 300 * MIB;
	require_mode(mode);
	run_alloc(&r, mode, 1024 * MIB, "300", grandchild);
	cr_assert_eq(r.end, PF_END_OK, "end %s (%s)", pf_proc_end_name(r.end), r.guard.detail);
	cr_assert(r.guard.peak_bytes >= want - want / 10 && r.guard.peak_bytes <= want + want / 10,
	          "peak %lu MiB is not within 10%% of 300 MiB (%s)", (unsigned long)(r.guard.peak_bytes / MIB),
	          r.guard.detail);
	cr_assert_not(r.guard.memory_kill);
}

static void over_limit(pf_guard_mode mode, uint64_t limit, const char *mib, bool grandchild)
{
	pf_proc_result r;
	char *d;
	require_mode(mode);
	run_alloc(&r, mode, limit, mib, grandchild);
	cr_assert_eq(r.end, PF_END_MEMORY, "end %s, exit %d, signal %d (%s)", pf_proc_end_name(r.end), r.exit_code,
	             r.signal, r.guard.detail);
	cr_assert(r.guard.memory_kill);
	cr_assert_eq(r.guard.limit_bytes, limit);
	cr_assert(r.guard.peak_bytes >= limit - limit / 10, "peak %lu MiB below the limit (%s)",
	          (unsigned long)(r.guard.peak_bytes / MIB), r.guard.detail);
	d = pf_proc_describe(&r);
	cr_assert(strstr(d, "exceeded its memory limit") != NULL, "%s", d);
	cr_assert(strstr(d, pf_guard_mode_name(mode)) != NULL, "%s", d);
	free(d);
}

TestSuite(proc_memory, .init = setup_tmp, .fini = teardown_tmp, .timeout = 30);

Test(proc_memory, cgroup1_under_limit_reports_peak)
{
	under_limit(PF_GUARD_CGROUP1, false);
}
Test(proc_memory, cgroup1_over_limit_is_a_memory_kill)
{
	over_limit(PF_GUARD_CGROUP1, 256 * MIB, "600", false);
}
Test(proc_memory, cgroup1_over_limit_in_setsid_grandchild)
{
	over_limit(PF_GUARD_CGROUP1, 256 * MIB, "600", true);
}
Test(proc_memory, cgroup1_needs_2gib_with_1gib_limit)
{
	over_limit(PF_GUARD_CGROUP1, 1024 * MIB, "2048", false);
}

Test(proc_memory, cgroup2_under_limit_reports_peak)
{
	under_limit(PF_GUARD_CGROUP2, false);
}
Test(proc_memory, cgroup2_over_limit_is_a_memory_kill)
{
	over_limit(PF_GUARD_CGROUP2, 256 * MIB, "600", false);
}
Test(proc_memory, cgroup2_over_limit_in_setsid_grandchild)
{
	over_limit(PF_GUARD_CGROUP2, 256 * MIB, "600", true);
}

Test(proc_memory, watchdog_under_limit_reports_tree_peak)
{
	under_limit(PF_GUARD_WATCHDOG, false);
}
Test(proc_memory, watchdog_under_limit_counts_grandchild)
{
	under_limit(PF_GUARD_WATCHDOG, true);
}
Test(proc_memory, watchdog_over_limit_is_a_memory_kill)
{
	over_limit(PF_GUARD_WATCHDOG, 256 * MIB, "600", false);
}
Test(proc_memory, watchdog_over_limit_in_setsid_grandchild)
{
	over_limit(PF_GUARD_WATCHDOG, 256 * MIB, "600", true);
}
Test(proc_memory, watchdog_needs_2gib_with_1gib_limit)
{
	over_limit(PF_GUARD_WATCHDOG, 1024 * MIB, "2048", false);
}

/*
 * The kernel OOM-kills one process of the step (the allocator) and the
 * shell that started it would carry on and exit 0: a breach of the limit
 * must stop the whole step and be its verdict (cgroup v2 gets this from
 * memory.oom.group, cgroup v1 from pteflow watching oom_kill).
 */
static void oom_kill_of_one_process_stops_the_step(pf_guard_mode mode)
{
	char *script = pf_xasprintf("%s --mib 600 --hold-ms 0; sleep 8", ALLOC), *d;
	const char *argv[] = {"sh", "-c", script, NULL};
	pf_proc_spec s;
	pf_proc_result r;
	require_mode(mode);
	spec_init(&s, argv);
	s.guard_mode = mode;
	s.memory_limit_bytes = 256 * MIB;
	s.timeout_ms = 20000;
	cr_assert_eq(pf_proc_run(&r, &s), 0, "%s", pf_error_last());
	cr_assert_eq(r.end, PF_END_MEMORY, "end %s, exit %d (%s)", pf_proc_end_name(r.end), r.exit_code,
	             r.guard.detail);
	cr_assert(r.guard.memory_kill);
	cr_assert(r.guard.oom_kills >= 1, "%s", r.guard.detail);
	cr_assert_lt(r.wall_ms, 6000, "the rest of the step ran on for %lu ms", (unsigned long)r.wall_ms);
	d = pf_proc_describe(&r);
	cr_assert(strstr(d, "exceeded its memory limit") != NULL, "%s", d);
	free(d);
	free(script);
}

Test(proc_memory, cgroup1_oom_kill_of_one_process_stops_the_whole_step)
{
	oom_kill_of_one_process_stops_the_step(PF_GUARD_CGROUP1);
}
Test(proc_memory, cgroup2_oom_kill_of_one_process_stops_the_whole_step)
{
	oom_kill_of_one_process_stops_the_step(PF_GUARD_CGROUP2);
}

Test(proc_memory, watchdog_counts_memory_shared_by_forked_workers_once)
{
	/* 200 MiB touched, then 3 forked children share it copy-on-write: about 200 MiB in use, 800 MiB of RSS */
	const char *argv[] = {ALLOC, "--mib", "200", "--fork-holders", "3", "--hold-ms", "600", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.guard_mode = PF_GUARD_WATCHDOG;
	s.memory_limit_bytes = 400 * MIB;
	s.timeout_ms = 15000;
	cr_assert_eq(pf_proc_run(&r, &s), 0, "%s", pf_error_last());
	cr_assert_eq(r.end, PF_END_OK, "end %s: shared pages were counted once per process (%s)",
	             pf_proc_end_name(r.end), r.guard.detail);
	cr_assert(r.guard.peak_bytes >= 190 * MIB && r.guard.peak_bytes < 300 * MIB, "peak %lu MiB (%s)",
	          (unsigned long)(r.guard.peak_bytes / MIB), r.guard.detail);
}

/*
 * rlimit: the allocator is built with AddressSanitizer, which cannot start
 * under any RLIMIT_AS (it reserves terabytes of shadow), exactly the problem
 * PyTorch has; so these use plain shell tools.
 */
Test(proc_memory, rlimit_sets_a_generous_address_space_backstop)
{
	char *log = tmp_path("ulimit.log"), *text, *want;
	const char *argv[] = {"sh", "-c", "ulimit -v", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.guard_mode = PF_GUARD_RLIMIT;
	s.memory_limit_bytes = 1024 * MIB;
	s.log_path = log;
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_OK);
	text = slurp(log);
	want = pf_xasprintf("%llu\n", (unsigned long long)(pf_guard_rlimit_as_bytes(1024 * MIB) / 1024));
	cr_assert_str_eq(text, want);
	cr_assert_eq(pf_guard_rlimit_as_bytes(1024 * MIB), 17408 * MIB);
	cr_assert(strstr(r.guard.detail, "RLIMIT_AS") != NULL, "%s", r.guard.detail);
	free(want);
	free(text);
	free(log);
}

Test(proc_memory, rlimit_over_limit_is_killed_by_its_watchdog)
{
	const char *argv[] = {"sh", "-c", "head -c 700M /dev/zero | tail -c 700M > /dev/null", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.guard_mode = PF_GUARD_RLIMIT;
	s.memory_limit_bytes = 200 * MIB;
	s.timeout_ms = 15000;
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_MEMORY, "end %s", pf_proc_end_name(r.end));
	cr_assert(r.guard.watchdog_fired);
	cr_assert(r.guard.peak_bytes > 200 * MIB);
}

Test(proc_memory, none_measures_without_limit)
{
	pf_proc_result r;
	run_alloc(&r, PF_GUARD_NONE, 0, "200", false);
	cr_assert_eq(r.end, PF_END_OK);
	cr_assert_eq(r.guard.limit_bytes, 0);
	cr_assert(r.guard.peak_bytes >= 190 * MIB && r.guard.peak_bytes <= 220 * MIB, "peak %lu MiB maxrss %lu (%s)",
	          (unsigned long)(r.guard.peak_bytes / MIB), (unsigned long)(r.maxrss_bytes / MIB), r.guard.detail);
	cr_assert(r.maxrss_bytes >= 190 * MIB, "maxrss %lu", (unsigned long)r.maxrss_bytes);
}

Test(proc_memory, auto_picks_a_working_guard_and_cleans_up)
{
	pf_proc_result r;
	pf_guard_mode mode = pf_guard_detect();
	char *dir = pf_guard_cgroup_parent(mode);
	int before = count_step_cgroups(dir);
	run_alloc(&r, mode, 256 * MIB, "600", false);
	cr_assert_eq(r.end, PF_END_MEMORY);
	cr_assert_eq(count_step_cgroups(dir), before);
	free(dir);
}

static void redirect_and_tmp(void)
{
	setup_tmp();
	cr_redirect_stderr();
}

Test(proc_log, echo_prefixes_each_line_with_the_step_name, .init = redirect_and_tmp, .fini = teardown_tmp)
{
	const char *argv[] = {"sh", "-c", "printf 'one\\ntw'; sleep 0.1; printf 'o\\nlast'", NULL};
	pf_proc_spec s;
	pf_proc_result r;
	spec_init(&s, argv);
	s.name = "export";
	s.echo = true;
	cr_assert_eq(pf_proc_run(&r, &s), 0);
	cr_assert_eq(r.end, PF_END_OK);
	fflush(stderr);
	cr_assert_stderr_eq_str("[export] one\n[export] two\n[export] last\n");
}
