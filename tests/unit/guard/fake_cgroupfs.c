/*
 * The fake cgroup v2 file system of fake_cgroupfs.h. Like the kernel, a
 * folder made under the fake mount with mkdir() gets the interface files of
 * a new group (its cgroup.controllers is what the parent's subtree_control
 * enables), and rmdir() removes them with it: this test program's mkdir()
 * and rmdir() replace the C library's, which src/guard/ calls, and do
 * exactly what the real ones do for every other path. There is no
 * cgroup.kill (as before Linux 5.14), so killing a group goes through
 * cgroup.procs and reaches the real processes listed there.
 */
#define _GNU_SOURCE
#include "fake_cgroupfs.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard/guard.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/mem.h"

static char fake_root[256];
static bool groups_empty, groups_without_peak;

static const char *const group_files[] = {
    "cgroup.procs",    "cgroup.controllers", "cgroup.subtree_control", "cgroup.type",    "cgroup.events", "memory.max",
    "memory.swap.max", "memory.oom.group",   "memory.events",          "memory.current", "memory.peak",   NULL};

static bool under_fake(const char *path)
{
	size_t n = strlen(fake_root);
	return n && strncmp(path, fake_root, n) == 0 && path[n] == '/';
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "cannot write %s", path);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

char *fake_cg_read_in(const char *dir, const char *name)
{
	char *path = pf_xasprintf("%s/%s", dir, name);
	pf_buf b;
	pf_buf_init(&b, 1 << 16);
	if (pf_fs_read_file(&b, path, b.max) != 0)
		pf_buf_reset(&b);
	free(path);
	return pf_buf_detach(&b);
}

/* The interface files of a new group under the fake mount. */
static void populate(const char *dir)
{
	char *parent = pf_xstrdup(dir), *slash = strrchr(parent, '/'), *enabled;
	if (groups_empty) {
		free(parent);
		return;
	}
	*slash = '\0';
	enabled = fake_cg_read_in(parent, "cgroup.subtree_control");
	for (char *p = enabled, *q = enabled;; p++) {
		if (*p != '+')
			*q++ = *p;
		if (!*p)
			break;
	}
	for (size_t i = 0; group_files[i]; i++) {
		char *path = pf_xasprintf("%s/%s", dir, group_files[i]);
		const char *text = "";
		if (strcmp(group_files[i], "cgroup.controllers") == 0)
			text = enabled;
		else if (strcmp(group_files[i], "cgroup.type") == 0)
			text = "domain\n";
		else if (strcmp(group_files[i], "memory.events") == 0)
			text = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n";
		else if (strcmp(group_files[i], "memory.current") == 0)
			text = "0\n";
		if (strcmp(group_files[i], "memory.peak") != 0 || !groups_without_peak)
			put(path, text);
		free(path);
	}
	free(enabled);
	free(parent);
}

int mkdir(const char *path, mode_t mode)
{
	int rc = (int)syscall(SYS_mkdirat, AT_FDCWD, path, mode);
	if (rc == 0 && under_fake(path))
		populate(path);
	return rc;
}

int rmdir(const char *path)
{
	if (under_fake(path)) {
		for (size_t i = 0; group_files[i]; i++) {
			char *f = pf_xasprintf("%s/%s", path, group_files[i]);
			(void)unlink(f);
			free(f);
		}
	}
	return (int)syscall(SYS_unlinkat, AT_FDCWD, path, AT_REMOVEDIR);
}

char *fake_cg_path(const char *rel)
{
	return pf_xasprintf("%s%s", fake_root, rel);
}

void fake_cg_write(const char *rel, const char *text)
{
	char *path = fake_cg_path(rel);
	put(path, text);
	free(path);
}

void fake_cg_write_in(const char *dir, const char *name, const char *text)
{
	char *path = pf_xasprintf("%s/%s", dir, name);
	put(path, text);
	free(path);
}

char *fake_cg_read(const char *rel)
{
	char *path = fake_cg_path(rel), *dir, *slash, *text;
	dir = pf_xstrdup(path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	text = fake_cg_read_in(dir, slash + 1);
	free(dir);
	free(path);
	return text;
}

void fake_cg_new_groups_empty(bool empty)
{
	groups_empty = empty;
}

void fake_cg_without_peak(bool without)
{
	groups_without_peak = without;
}

void fake_cg_setup(const char *self, bool root_is_system)
{
	const char *base = getenv("TMPDIR");
	char *walk, pid[32];
	size_t at = 0;
	snprintf(fake_root, sizeof(fake_root), "%s/pf-fakecg-XXXXXX", base && *base ? base : "/tmp");
	cr_assert_not_null(mkdtemp(fake_root));
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	fake_cg_write("/cgroup.controllers", "cpuset cpu io memory pids\n");
	fake_cg_write("/cgroup.subtree_control", strcmp(self, "/") == 0 ? "" : "memory\n");
	fake_cg_write("/cgroup.procs", strcmp(self, "/") == 0 ? pid : "");
	if (!root_is_system)
		fake_cg_write("/cgroup.type", "domain\n");
	/* every group on the way to `self` enables memory for its children; `self` holds this process */
	walk = pf_xstrdup(self);
	while (strcmp(self, "/") != 0 && walk[at]) {
		char *dir, *next = strchr(walk + at + 1, '/');
		if (next)
			*next = '\0';
		dir = fake_cg_path(walk);
		cr_assert_eq(mkdir(dir, 0755), 0, "%s", dir);
		free(dir);
		if (next) {
			char *sub = pf_xasprintf("%s/cgroup.subtree_control", walk);
			fake_cg_write(sub, "memory\n");
			free(sub);
			*next = '/';
			at = (size_t)(next - walk);
		} else {
			char *procs = pf_xasprintf("%s/cgroup.procs", walk);
			fake_cg_write(procs, pid);
			free(procs);
			break;
		}
	}
	free(walk);
	cr_assert_eq(setenv(PF_GUARD_TEST_CGROUP2_MOUNT_ENV, fake_root, 1), 0);
	cr_assert_eq(setenv(PF_GUARD_TEST_CGROUP2_SELF_ENV, self, 1), 0);
}

void fake_cg_teardown(void)
{
	unsetenv(PF_GUARD_TEST_CGROUP2_MOUNT_ENV);
	unsetenv(PF_GUARD_TEST_CGROUP2_SELF_ENV);
	groups_empty = groups_without_peak = false;
	if (fake_root[0])
		pf_fs_remove_tree(fake_root);
	fake_root[0] = '\0';
}
