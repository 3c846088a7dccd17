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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
