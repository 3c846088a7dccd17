/*
 * The cgroup v2 path of src/guard/ against a fake cgroup2 mount
 * (fake_cgroupfs.h), so it is tested on hosts without a cgroup v2 memory
 * controller too: where step groups go (the system root, a namespace root
 * or a delegated group that must first move pteflow into a leaf, a sibling
 * of pteflow's own group), what it says when nothing is writable, the
 * fallback of `auto`, the files it writes (memory.max, memory.swap.max,
 * memory.oom.group) and what it reads back (memory.events, memory.peak or
 * samples of memory.current). The real kernel path runs in
 * tests/unit/proc/ wherever cgroup v2 has a memory controller (CI as root).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_cgroupfs.h"
#include "guard/guard.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define MIB (1024ULL * 1024ULL)

static pid_t member_pid;

/* A failed assertion must not leave the member of a test behind. */
static void teardown(void)
{
	if (member_pid > 0) {
		kill(member_pid, SIGKILL);
		waitpid(member_pid, NULL, 0);
	}
	fake_cg_teardown();
}

TestSuite(guard_cgroup2, .fini = teardown);

static void assert_text(char *got, const char *want, const char *what)
{
	cr_assert_str_eq(got, want, "%s: \"%s\", expected \"%s\"", what, got, want);
	free(got);
}

static int count_step_groups(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	cr_assert_not_null(d, "%s", dir);
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "pteflow-", 8) == 0;
	closedir(d);
	return n;
}

/* A limited group in `parent_rel` with the files cgroup v2 needs for a hard limit without swap. */
static pf_guard *assert_limited_group_in(const char *parent_rel)
{
	pf_guard *g = NULL;
	char *parent = fake_cg_path(parent_rel), *dir;
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_CGROUP2, 64 * MIB), 0, "%s", pf_error_last());
	dir = pf_xstrdup(pf_guard_cgroup_path(g));
	cr_assert(strncmp(dir, parent, strlen(parent)) == 0 && strncmp(dir + strlen(parent), "/pteflow-", 9) == 0,
	          "step group %s is not in %s", dir, parent);
	assert_text(fake_cg_read_in(dir, "memory.max"), "67108864", "memory.max");
	assert_text(fake_cg_read_in(dir, "memory.swap.max"), "0", "memory.swap.max");
	assert_text(fake_cg_read_in(dir, "memory.oom.group"), "1", "memory.oom.group");
	free(dir);
	free(parent);
	return g;
}

static void assert_freed(pf_guard *g)
{
	char *dir = pf_xstrdup(pf_guard_cgroup_path(g));
	pf_guard_free(g);
	cr_assert_not(pf_fs_exists(dir), "%s was not removed", dir);
	free(dir);
}

Test(guard_cgroup2, namespace_root_moves_pteflow_into_a_leaf_and_stays_in_the_mount)
{
	char *mount, *parent, *leaf, pid[32];
	pf_guard *g;
	fake_cg_setup("/", false);
	mount = fake_cg_path("");
	parent = pf_guard_cgroup_parent(PF_GUARD_CGROUP2);
	cr_assert_not_null(parent, "a writable namespace root with a memory controller is usable");
	cr_assert_str_eq(parent, mount, "step groups must go in the namespace root, never above the mount");
	cr_assert_eq(pf_guard_detect(), PF_GUARD_CGROUP2);
	/* the no-internal-processes rule: pteflow leaves the root for a leaf before "+memory" is written */
	g = assert_limited_group_in("");
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	leaf = pf_xasprintf("/pteflow.%d/cgroup.procs", (int)getpid());
	assert_text(fake_cg_read(leaf), pid, "the leaf's cgroup.procs");
	assert_text(fake_cg_read("/cgroup.subtree_control"), "+memory", "the root's cgroup.subtree_control");
	assert_freed(g);
	free(leaf);
	free(parent);
	free(mount);
}

Test(guard_cgroup2, system_root_enables_memory_for_its_children_in_place)
{
	char *mount, *parent, *leaf;
	pf_guard *g;
	fake_cg_setup("/", true);
	mount = fake_cg_path("");
	parent = pf_guard_cgroup_parent(PF_GUARD_CGROUP2);
	cr_assert_not_null(parent);
	cr_assert_str_eq(parent, mount);
	g = assert_limited_group_in("");
	assert_text(fake_cg_read("/cgroup.subtree_control"), "+memory", "the root's cgroup.subtree_control");
	/* the system root may hold processes: pteflow stays where it is */
	leaf = pf_xasprintf("%s/pteflow.%d", mount, (int)getpid());
	cr_assert_not(pf_fs_exists(leaf), "pteflow moved itself out of the system root");
	assert_freed(g);
	free(leaf);
	free(parent);
	free(mount);
}

Test(guard_cgroup2, a_group_holding_pteflow_gets_siblings_in_its_parent)
{
	char *mount, *parent;
	pf_guard *g;
	fake_cg_setup("/system.slice/runner.service", true);
	mount = fake_cg_path("/system.slice");
	parent = pf_guard_cgroup_parent(PF_GUARD_CGROUP2);
	cr_assert_not_null(parent);
	cr_assert_str_eq(parent, mount);
	g = assert_limited_group_in("/system.slice");
	/* the parent already enables memory (pteflow's group has it): nothing else is written or moved */
	assert_text(fake_cg_read("/system.slice/cgroup.subtree_control"), "memory\n", "subtree_control");
	assert_text(fake_cg_read("/system.slice/runner.service/cgroup.subtree_control"), "", "own subtree_control");
	assert_freed(g);
	free(parent);
	free(mount);
}

Test(guard_cgroup2, other_processes_in_a_delegated_root_make_it_unusable_with_the_reason)
{
	pf_guard *g = NULL;
	fake_cg_setup("/", false);
	fake_cg_write("/cgroup.procs", "1\n4242\n");
	cr_assert_null(pf_guard_cgroup_parent(PF_GUARD_CGROUP2));
	cr_assert_neq(pf_guard_detect(), PF_GUARD_CGROUP2);
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_CGROUP2, 64 * MIB), PF_EENV);
	cr_assert(strstr(pf_error_last(), "other processes") != NULL, "%s", pf_error_last());
}

Test(guard_cgroup2, no_memory_controller_is_unavailable_with_the_reason)
{
	pf_guard *g = NULL;
	fake_cg_setup("/user.slice/session-3.scope", true);
	fake_cg_write("/user.slice/session-3.scope/cgroup.controllers", "cpu pids\n");
	cr_assert_null(pf_guard_cgroup_parent(PF_GUARD_CGROUP2));
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_CGROUP2, 64 * MIB), PF_EENV);
	cr_assert(strstr(pf_error_last(), "memory controller is not available") != NULL, "%s", pf_error_last());
}

Test(guard_cgroup2, nothing_writable_says_how_to_get_a_delegated_group)
{
	char *mount, *own, *scope;
	pid_t child;
	int st;
	fake_cg_setup("/user.slice/session-3.scope", true);
	mount = fake_cg_path("");
	own = fake_cg_path("/user.slice");
	scope = fake_cg_path("/user.slice/session-3.scope");
	cr_assert_eq(chmod(mount, 0755), 0);
	cr_assert_eq(chmod(own, 0555), 0);
	cr_assert_eq(chmod(scope, 0555), 0);
	fflush(NULL);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		/* as a user who owns neither folder (root may write anything) */
		pf_guard *g = NULL;
		int rc;
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(2);
		rc = pf_guard_new(&g, PF_GUARD_CGROUP2, 64 * MIB);
		if (rc != PF_EENV || !strstr(pf_error_last(), "not writable") ||
		    !strstr(pf_error_last(), "Delegate=yes")) {
			fprintf(stderr, "rc %d: %s\n", rc, pf_error_last());
			_exit(3);
		}
		_exit(pf_guard_detect() == PF_GUARD_CGROUP2 ? 4 : 0);
	}
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	chmod(own, 0755);
	chmod(scope, 0755);
	free(scope);
	free(own);
	free(mount);
}

Test(guard_cgroup2, auto_falls_back_when_the_group_cannot_be_set_up)
{
	pf_guard *g = NULL;
	pf_guard_report rep;
	char *parent;
	fake_cg_setup("/system.slice/runner.service", true);
	fake_cg_new_groups_empty(true); /* mkdir works, memory.max cannot be written */
	parent = fake_cg_path("/system.slice");
	cr_assert_eq(pf_guard_detect(), PF_GUARD_CGROUP2);
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_CGROUP2, 64 * MIB), PF_EENV);
	cr_assert(strstr(pf_error_last(), "memory.max") != NULL, "%s", pf_error_last());
	cr_assert_eq(pf_guard_new(&g, PF_GUARD_AUTO, 64 * MIB), 0, "auto must fall back: %s", pf_error_last());
	pf_guard_finish(g, 0, 0, &rep);
	cr_assert(rep.mode == PF_GUARD_CGROUP1 || rep.mode == PF_GUARD_WATCHDOG, "mode %s",
	          pf_guard_mode_name(rep.mode));
	cr_assert(strstr(rep.detail, "cgroup2 could not be set up") != NULL, "%s", rep.detail);
	pf_guard_free(g);
	cr_assert_eq(count_step_groups(parent), 0, "a half-made group was left in %s", parent);
	free(parent);
}

/* A child that joins the guard's group and waits to be killed. */
static pid_t member(pf_guard *g)
{
	pid_t child;
	fflush(NULL);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		if (pf_guard_child_enter(g) != 0)
			_exit(3);
		for (;;)
			pause();
	}
	member_pid = child;
	cr_assert_eq(pf_guard_parent_attach(g, child), 0);
	return child;
}

/* Poll as the step runner does until the guard says "kill now" or `ms` pass. */
static bool poll_for(pf_guard *g, int ms)
{
	for (int waited = 0; waited < ms; waited += 5) {
		if (pf_guard_poll(g))
			return true;
		usleep(5000);
	}
	return false;
}

Test(guard_cgroup2, an_oom_kill_in_the_group_stops_the_whole_tree_and_is_the_verdict)
{
	pf_guard *g;
	pf_guard_report rep;
	pid_t child;
	int st;
	fake_cg_setup("/system.slice/runner.service", true);
	g = assert_limited_group_in("/system.slice");
	child = member(g);
	cr_assert_geq(pf_guard_poll_interval_ms(g), 1, "the guard must watch its group's OOM kills");
	cr_assert_not(poll_for(g, 60));
	/* the kernel killed one process of the step in the group */
	fake_cg_write_in(pf_guard_cgroup_path(g), "memory.events",
	                 "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 1\n");
	fake_cg_write_in(pf_guard_cgroup_path(g), "memory.peak", "67100000\n");
	cr_assert(poll_for(g, 1000), "an OOM kill in the group must stop the rest of the step");
	pf_guard_kill_all(g);
	cr_assert_eq(waitpid(child, &st, 0), child);
	member_pid = 0;
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "member status %d", st);
	pf_guard_finish(g, 0, SIGKILL, &rep);
	cr_assert(rep.memory_kill);
	cr_assert_eq(rep.oom_kills, 1);
	cr_assert(rep.peak_from_cgroup);
	cr_assert_eq(rep.peak_bytes, 67100000);
	cr_assert(strstr(rep.detail, "oom_kill 1") && strstr(rep.detail, "oom_group_kill 1"), "%s", rep.detail);
	assert_freed(g);
}

Test(guard_cgroup2, without_memory_peak_the_peak_is_sampled_from_memory_current)
{
	static const char *const samples[] = {"1000000\n", "5000000\n", "2000000\n"};
	pf_guard *g;
	pf_guard_report rep;
	pid_t child;
	int st;
	fake_cg_setup("/system.slice/runner.service", true);
	fake_cg_without_peak(true); /* Linux < 5.19 */
	g = assert_limited_group_in("/system.slice");
	child = member(g);
	for (size_t i = 0; i < 3; i++) {
		fake_cg_write_in(pf_guard_cgroup_path(g), "memory.current", samples[i]);
		usleep((useconds_t)(pf_guard_poll_interval_ms(g) + 5) * 1000);
		cr_assert_not(pf_guard_poll(g));
	}
	pf_guard_kill_all(g);
	cr_assert_eq(waitpid(child, &st, 0), child);
	member_pid = 0;
	pf_guard_finish(g, 0, SIGKILL, &rep);
	cr_assert_not(rep.peak_from_cgroup);
	cr_assert_eq(rep.peak_bytes, 5000000);
	cr_assert_not(rep.memory_kill);
	cr_assert(strstr(rep.detail, "sampled from memory.current") != NULL, "%s", rep.detail);
	assert_freed(g);
}
