/*
 * A fake cgroup v2 file system for the guard tests (see fake_cgroupfs.c):
 * a temporary folder that src/guard/ takes for the cgroup2 mount through
 * its test-only override (PTEFLOW_TEST_CGROUP2_MOUNT and _SELF in guard.h).
 * The decisions and parsing of the cgroup v2 path are tested against files
 * the tests write there, on any host.
 */
#ifndef PF_TEST_FAKE_CGROUPFS_H
#define PF_TEST_FAKE_CGROUPFS_H

#include <stdbool.h>

/*
 * Make the fake mount and point the guard at it, with pteflow's own group
 * at `self` ("/" or "/a/b"; every folder on the way is made as a group).
 * `root_is_system` false gives the mount root a cgroup.type, as the root of
 * a cgroup namespace has and the system root has not.
 */
void fake_cg_setup(const char *self, bool root_is_system);
/* Remove the fake mount and unset the override. */
void fake_cg_teardown(void);
/* Absolute path of `rel` ("" or "/a/b/memory.max") in the fake mount. Caller frees. */
char *fake_cg_path(const char *rel);
/* Replace the text of a file in the fake mount. */
void fake_cg_write(const char *rel, const char *text);
/* Replace the text of file `name` in folder `dir` (absolute). */
void fake_cg_write_in(const char *dir, const char *name, const char *text);
/* The text of a file in the fake mount ("" when absent). Caller frees. */
char *fake_cg_read(const char *rel);
/* The text of a file in folder `dir` (absolute), "" when absent. Caller frees. */
char *fake_cg_read_in(const char *dir, const char *name);
/* New groups made from now on get no interface files (a group that cannot be configured). */
void fake_cg_new_groups_empty(bool empty);
/* New groups made from now on get no memory.peak (a kernel older than 5.19). */
void fake_cg_without_peak(bool without);

#endif
