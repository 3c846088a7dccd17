/*
 * Tests of src/guard/ on the real kernel: mode names, admission (with the
 * test-only PTEFLOW_TEST_MEMAVAILABLE override and against the host's real
 * figures), the rlimit backstop figure, cgroup creation and removal (v1 and
 * v2 where this host has them, skipped with the reason otherwise), the
 * signal-safe cleanup of every cgroup, and the watchdog catching a forked
 * allocator. Whole-step tests (spawn + guard) live in tests/unit/proc/.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/tree.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)

Test(guard_mode, names_round_trip)
{
	static const pf_guard_mode all[] = {PF_GUARD_AUTO,   PF_GUARD_CGROUP2,  PF_GUARD_CGROUP1,
	                                    PF_GUARD_RLIMIT, PF_GUARD_WATCHDOG, PF_GUARD_NONE};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		pf_guard_mode m = PF_GUARD_NONE;
		cr_assert_eq(pf_guard_mode_parse(&m, pf_guard_mode_name(all[i])), 0);
		cr_assert_eq(m, all[i]);
	}
}

Test(guard_mode, unknown_mode_says_what_is_valid)
{
	pf_guard_mode m;
	cr_assert_eq(pf_guard_mode_parse(&m, "cgroup3"), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "\"cgroup3\"") && strstr(pf_error_last(), "watchdog"), "%s", pf_error_last());
}

Test(guard_mode, auto_detects_a_mode_that_works)
{
	pf_guard *g = NULL;
	pf_guard_mode m = pf_guard_detect();
	cr_assert(m == PF_GUARD_CGROUP2 || m == PF_GUARD_CGROUP1 || m == PF_GUARD_WATCHDOG);
	cr_assert_eq(pf_guard_new(&g, m, 64 * MIB), 0, "%s", pf_error_last());
	pf_guard_free(g);
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_AUTO, 64 * MIB), 0, "%s", pf_error_last());
	pf_guard_free(g);
}

Test(guard_mode, rlimit_backstop_is_generous)
{
	cr_assert_eq(pf_guard_rlimit_as_bytes(1 * GIB), 17 * GIB);
	cr_assert_eq(pf_guard_rlimit_as_bytes(8 * GIB), 32 * GIB);
	cr_assert_eq(pf_guard_rlimit_as_bytes(UINT64_MAX / 2), UINT64_MAX);
}

/* ---- admission ---- */

Test(guard_admit, refuses_with_the_documented_message)
{
	setenv(PF_GUARD_TEST_MEMAVAILABLE_ENV, "3328599654", 1); /* 3.1 GiB */
	cr_assert_eq(pf_guard_admit("export", 5905580032ULL /* 5.5 GiB */, false), PF_ELIMIT);
	cr_assert_str_eq(pf_error_last(),
	                 "step \"export\" needs about 5.5 GiB, this host has 3.1 GiB available: raise the limit, "
	                 "quantize first, or run the export on a CI runner; --force runs it anyway");
	unsetenv(PF_GUARD_TEST_MEMAVAILABLE_ENV);
}

Test(guard_admit, force_proceeds_and_enough_passes)
{
	setenv(PF_GUARD_TEST_MEMAVAILABLE_ENV, "3328599654", 1);
	cr_assert_eq(pf_guard_admit("export", 5905580032ULL, true), 0);
	cr_assert_eq(pf_guard_admit("export", 3 * GIB, false), 0);
	unsetenv(PF_GUARD_TEST_MEMAVAILABLE_ENV);
}

Test(guard_admit, bad_override_is_an_error)
{
	uint64_t a;
	setenv(PF_GUARD_TEST_MEMAVAILABLE_ENV, "3GiB", 1);
	cr_assert_eq(pf_guard_available(&a), PF_EINVALID);
	unsetenv(PF_GUARD_TEST_MEMAVAILABLE_ENV);
}

Test(guard_admit, real_figure_is_bounded_by_meminfo)
{
	uint64_t avail = 0, total = 0;
	pf_buf b;
	const char *p;
	unsetenv(PF_GUARD_TEST_MEMAVAILABLE_ENV);
	cr_assert_eq(pf_guard_available(&avail), 0, "%s", pf_error_last());
	pf_buf_init(&b, 1 << 16);
	cr_assert_eq(pf_fs_read_file(&b, "/proc/meminfo", b.max), 0);
	p = strstr(pf_buf_cstr(&b), "MemTotal:");
	cr_assert_not_null(p);
	total = strtoull(p + 9, NULL, 10) * 1024ULL;
	pf_buf_dispose(&b);
	cr_assert(avail > 16 * MIB && avail <= total, "available %llu of %llu", (unsigned long long)avail,
	          (unsigned long long)total);
	/* more than the whole machine is always refused */
	cr_assert_eq(pf_guard_admit("big", total + GIB, false), PF_ELIMIT);
}

/* ---- cgroups ---- */

static pf_guard *new_or_skip(pf_guard_mode mode, uint64_t limit)
{
	pf_guard *g = NULL;
	if (pf_guard_new(&g, mode, limit) != 0)
		cr_skip_test("guard %s is not supported on this host: %s", pf_guard_mode_name(mode), pf_error_last());
	return g;
}

static uint64_t read_num(const char *dir, const char *name)
{
	char *p = pf_xasprintf("%s/%s", dir, name);
	pf_buf b;
	uint64_t v;
	pf_buf_init(&b, 256);
	cr_assert_eq(pf_fs_read_file(&b, p, b.max), 0, "cannot read %s", p);
	v = strncmp(pf_buf_cstr(&b), "max", 3) == 0 ? UINT64_MAX : strtoull(pf_buf_cstr(&b), NULL, 10);
	pf_buf_dispose(&b);
	free(p);
	return v;
}

/* Write a cgroup file in place (cgroupfs has no rename). */
static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text), "%s: %s", path, strerror(errno));
	close(fd);
}

Test(guard_cgroup, cgroup1_sets_limit_without_swap_and_is_removed)
{
	pf_guard *g = new_or_skip(PF_GUARD_CGROUP1, 512 * MIB);
	char *dir = pf_xstrdup(pf_guard_cgroup_path(g));
	cr_assert(pf_fs_is_dir(dir), "%s", dir);
	cr_assert(strstr(dir, "/pteflow-") != NULL, "%s", dir);
	cr_assert_eq(read_num(dir, "memory.limit_in_bytes"), 512 * MIB);
	char *memsw = pf_xasprintf("%s/memory.memsw.limit_in_bytes", dir);
	if (pf_fs_exists(memsw))
		cr_assert_eq(read_num(dir, "memory.memsw.limit_in_bytes"), 512 * MIB);
	free(memsw);
	pf_guard_free(g);
	cr_assert_not(pf_fs_exists(dir), "%s was not removed", dir);
	free(dir);
}

Test(guard_cgroup, cgroup2_sets_max_and_no_swap_and_is_removed)
{
	pf_guard *g = new_or_skip(PF_GUARD_CGROUP2, 512 * MIB);
	char *dir = pf_xstrdup(pf_guard_cgroup_path(g));
	cr_assert_eq(read_num(dir, "memory.max"), 512 * MIB);
	char *swap = pf_xasprintf("%s/memory.swap.max", dir);
	if (pf_fs_exists(swap))
		cr_assert_eq(read_num(dir, "memory.swap.max"), 0);
	free(swap);
	pf_guard_free(g);
	cr_assert_not(pf_fs_exists(dir), "%s was not removed", dir);
	free(dir);
}

Test(guard_cgroup, a_stale_group_with_our_name_is_stepped_over)
{
	/* pids repeat (containers): a group left by a killed pteflow that had our pid must not block us */
	char *parent = pf_guard_cgroup_parent(PF_GUARD_CGROUP1), *stale[8];
	pf_guard *g = NULL;
	int rc;
	if (!parent)
		cr_skip_test("no cgroup v1 memory guard on this host");
	for (int i = 0; i < 8; i++) {
		stale[i] = pf_xasprintf("%s/pteflow-%d-%d", parent, (int)getpid(), i);
		cr_assert_eq(mkdir(stale[i], 0755), 0, "%s: %s", stale[i], strerror(errno));
	}
	rc = pf_guard_new(&g, PF_GUARD_CGROUP1, 64 * MIB);
	if (rc == 0) {
		for (int i = 0; i < 8; i++)
			cr_assert_str_neq(pf_guard_cgroup_path(g), stale[i]);
		pf_guard_free(g);
	}
	for (int i = 0; i < 8; i++) {
		rmdir(stale[i]);
		free(stale[i]);
	}
	free(parent);
	cr_assert_eq(rc, 0, "%s", pf_error_last());
}

Test(guard_cgroup, cgroup1_group_stuck_under_oom_is_stopped)
{
	/* with oom_kill_disable (inherited from a parent group in v1) the kernel never kills: pteflow must */
	pf_guard *g = new_or_skip(PF_GUARD_CGROUP1, 64 * MIB);
	pf_guard_report rep;
	char *ctl = pf_xasprintf("%s/memory.oom_control", pf_guard_cgroup_path(g));
	pf_buf b;
	bool fired = false;
	pid_t child;
	int st;
	pf_buf_init(&b, 4096);
	cr_assert_eq(pf_fs_read_file(&b, ctl, b.max), 0);
	cr_assert(strstr(pf_buf_cstr(&b), "oom_kill_disable 0") != NULL, "%s", pf_buf_cstr(&b));
	pf_buf_dispose(&b);
	write_text(ctl, "1");
	fflush(NULL);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		char *p;
		if (pf_guard_child_enter(g) != 0)
			_exit(3);
		p = mmap(NULL, 256 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(4);
		for (size_t off = 0; off < 256 * MIB; off += 4096)
			p[off] = 1;
		_exit(0);
	}
	cr_assert_eq(pf_guard_parent_attach(g, child), 0);
	for (int i = 0; i < 1000 && !fired; i++) {
		fired = pf_guard_poll(g);
		usleep(5000);
	}
	pf_guard_kill_all(g);
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_assert(fired, "a group stuck under OOM was never reported");
	pf_guard_finish(g, 0, WIFSIGNALED(st) ? WTERMSIG(st) : 0, &rep);
	cr_assert(rep.memory_kill, "%s", rep.detail);
	cr_assert(strstr(rep.detail, "under_oom") != NULL, "%s", rep.detail);
	pf_guard_free(g);
	free(ctl);
}

Test(guard_cgroup, explicit_unavailable_mode_fails_with_reason)
{
	pf_guard *g = NULL;
	char *v2 = pf_guard_cgroup_parent(PF_GUARD_CGROUP2);
	if (v2) {
		free(v2);
		cr_skip_test("cgroup v2 with a memory controller works here: nothing unavailable to test");
	}
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_CGROUP2, 64 * MIB), PF_EENV);
	cr_assert_null(g);
	cr_assert(strstr(pf_error_last(), "\"cgroup2\" is not available here") != NULL, "%s", pf_error_last());
}

Test(guard_cgroup, cleanup_all_removes_every_cgroup_with_its_members)
{
	pf_guard_mode mode = pf_guard_detect();
	pf_guard *g;
	char *dir;
	pid_t child;
	int st;
	if (mode != PF_GUARD_CGROUP1 && mode != PF_GUARD_CGROUP2)
		cr_skip_test("no cgroup memory guard on this host");
	g = new_or_skip(mode, 128 * MIB);
	dir = pf_xstrdup(pf_guard_cgroup_path(g));
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		if (pf_guard_child_enter(g) != 0)
			_exit(3);
		for (;;)
			pause();
	}
	cr_assert_eq(pf_guard_parent_attach(g, child), 0);
	usleep(50000);
	pf_guard_cleanup_all();
	cr_assert_not(pf_fs_exists(dir), "%s survived pf_guard_cleanup_all", dir);
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "member status %d", st);
	pf_guard_free(g); /* already removed: must not complain or crash */
	free(dir);
}

/* ---- watchdog ---- */

Test(guard_watchdog, catches_a_forked_allocator_and_reports_its_peak)
{
	pf_guard *g = NULL;
	pf_guard_report rep;
	pid_t child;
	int st, go[2];
	bool fired = false;
	uint64_t base, limit;
	cr_assert_eq(pipe(go), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		/* mmap, not malloc: no sanitizer shadow; touch 256 MiB, slowly enough to be sampled */
		char c, *p;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(4);
		p = mmap(NULL, 256 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(3);
		for (size_t off = 0; off < 256 * MIB; off += 4096) {
			p[off] = 1;
			if (off % MIB == 0)
				usleep(1000); /* at most 1 MiB per ms, so a 16 ms sampling gap stays inside the bound */
		}
		for (;;)
			pause();
	}
	close(go[0]);
	usleep(20000);
	/*
	 * A forked child shares the test process's pages. The watchdog decides on
	 * PSS (shared pages split) once the RSS sum is over the limit, so the limit
	 * is 64 MiB above the child's PSS.
	 */
	cr_assert(pf_guard_tree_pss_bytes(child, &base));
	limit = base + 64 * MIB;
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_WATCHDOG, limit), 0);
	cr_assert_geq(pf_guard_poll_interval_ms(g), 1);
	pf_guard_parent_attach(g, child);
	cr_assert_eq(write(go[1], "x", 1), 1);
	for (int i = 0; i < 5000 && !fired; i++) {
		fired = pf_guard_poll(g);
		usleep(1000);
	}
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	close(go[1]);
	cr_assert(fired, "the watchdog never fired");
	pf_guard_finish(g, 0, SIGKILL, &rep);
	cr_assert(rep.watchdog_fired && rep.memory_kill);
	cr_assert_eq(rep.mode, PF_GUARD_WATCHDOG);
	cr_assert(rep.peak_bytes > limit && rep.peak_bytes < limit + 16 * MIB,
	          "peak %llu MiB overshoots the limit of %llu MiB by more than 16 MiB",
	          (unsigned long long)(rep.peak_bytes / MIB), (unsigned long long)(limit / MIB));
	pf_guard_free(g);
}

Test(guard_watchdog, measure_only_never_fires)
{
	pf_guard *g = NULL;
	pf_guard_report rep;
	pid_t child;
	int st;
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_NONE, 1 * MIB), 0);
	child = fork();
	if (child == 0) {
		char *p = mmap(NULL, 32 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			memset(p, 1, 32 * MIB);
		pause();
		_exit(0);
	}
	pf_guard_parent_attach(g, child);
	for (int i = 0; i < 30; i++) {
		cr_assert_not(pf_guard_poll(g));
		usleep(10000);
	}
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	pf_guard_finish(g, 0, 0, &rep);
	cr_assert_eq(rep.limit_bytes, 0);
	cr_assert_not(rep.memory_kill);
	pf_guard_free(g);
}
