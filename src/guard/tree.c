/*
 * The process tree of a running step, as seen from /proc: every live
 * descendant of pteflow, their resident memory, and signalling them all.
 * Used by the RSS watchdog (sampled every few milliseconds while a step
 * runs; PSS only when the RSS sum crosses the limit) and by src/proc/ to
 * stop a tree at a timeout or an interrupt, grandchildren that left the
 * process group included. pteflow is a child
 * subreaper while steps run, so orphans come back to it and stay in the walk.
 * Workload: a handful to a few hundred processes per walk; each walk reads
 * one small /proc file per thread of each process in the tree.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guard/internal.h"
#include "guard/tree.h"
#include "util/mem.h"

/* Read a small /proc file into buf (NUL-terminated); returns length or -1. */
ssize_t pf_guard_tree_read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	if (fd < 0)
		return -1;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

static bool parse_pid(const char *s, char **end, pid_t *out)
{
	unsigned long v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 4194304UL * 1024UL)
			return false;
		p++;
	}
	*end = (char *)p;
	*out = (pid_t)v;
	return true;
}

/*
 * /proc/<pid>/stat into buf; returns where "(comm)" ends (its last ')'), or
 * NULL when the process is gone. comm may hold spaces and ')'.
 */
static char *read_stat(pid_t pid, char *buf, size_t cap)
{
	char path[64], *p;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (pf_guard_tree_read_small(path, buf, cap) <= 0)
		return NULL;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] ? p : NULL;
}

int pf_guard_tree_stat(pid_t pid, pf_guard_tree_stat_info *out)
{
	char buf[1024];
	char *p, *end;
	int field;
	/* "pid (comm) S ppid pgrp ..." */
	p = read_stat(pid, buf, sizeof(buf));
	if (!p)
		return -1;
	out->state = p[2];
	p += 3;
	for (field = 0; field < 2; field++) {
		pid_t v;
		while (*p == ' ')
			p++;
		if (!parse_pid(p, &end, &v))
			return -1;
		if (field == 0)
			out->ppid = v;
		else
			out->pgid = v;
		p = end;
	}
	return 0;
}

int pf_guard_tree_start_time(pid_t pid, uint64_t *out)
{
	char buf[1024];
	char *p = read_stat(pid, buf, sizeof(buf)), *end;
	unsigned long long v;
	if (!p)
		return -1;
	/* after "(comm)": field 3 (state) ... field 22 (starttime) */
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	errno = 0;
	v = strtoull(p + 1, &end, 10);
	if (end == p + 1 || errno)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* The walk: pids and, at the same index, each one's parent. */
typedef struct walk {
	pid_t *v;
	pid_t *parent;
	size_t n, cap;
} walk;

static void push(walk *w, pid_t pid, pid_t parent)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i] == pid)
			return;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->v = pf_xreallocarray(w->v, w->cap, sizeof(*w->v));
		w->parent = pf_xreallocarray(w->parent, w->cap, sizeof(*w->parent));
	}
	w->v[w->n] = pid;
	w->parent[w->n++] = parent;
}

/* Children of every thread of `pid`; returns -1 when the kernel lacks the children file. */
static int children_of(pid_t pid, walk *w)
{
	char path[96], buf[4096];
	struct dirent *de;
	DIR *d;
	int rc = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0; /* gone */
	while ((de = readdir(d)) != NULL) {
		char *p, *end;
		pid_t child;
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/children", (int)pid, de->d_name);
		if (pf_guard_tree_read_small(path, buf, sizeof(buf)) < 0) {
			if (errno == ENOENT && access(path, F_OK) != 0 && pid == getpid())
				rc = -1;
			continue;
		}
		p = buf;
		while (*p) {
			while (*p == ' ' || *p == '\n')
				p++;
			if (!parse_pid(p, &end, &child))
				break;
			push(w, child, pid);
			p = end;
		}
	}
	closedir(d);
	return rc;
}

/* Fallback without CONFIG_PROC_CHILDREN: one pass over /proc, repeated until no new descendant. */
static void scan_all(pid_t root, walk *w)
{
	bool grew = true;
	while (grew) {
		struct dirent *de;
		DIR *d = opendir("/proc");
		grew = false;
		if (!d)
			return;
		while ((de = readdir(d)) != NULL) {
			pf_guard_tree_stat_info st;
			char *end;
			pid_t pid;
			bool known = false, parent_known = false;
			if (!parse_pid(de->d_name, &end, &pid) || *end)
				continue;
			if (pf_guard_tree_stat(pid, &st) != 0)
				continue;
			for (size_t i = 0; i < w->n; i++) {
				known = known || w->v[i] == pid;
				parent_known = parent_known || w->v[i] == st.ppid;
			}
			if (!known && (st.ppid == root || parent_known)) {
				push(w, pid, st.ppid);
				grew = true;
			}
		}
		closedir(d);
	}
}

size_t pf_guard_tree_collect(pid_t **out, pid_t **out_parents)
{
	walk w = {NULL, NULL, 0, 0};
	pid_t self = getpid();
	if (children_of(self, &w) < 0) {
		scan_all(self, &w);
	} else {
		for (size_t i = 0; i < w.n; i++)
			(void)children_of(w.v[i], &w);
	}
	*out = w.v;
	if (out_parents)
		*out_parents = w.parent;
	else
		free(w.parent);
	return w.n;
}

bool pf_guard_tree_same_mm(pid_t a, pid_t b)
{
	/* kcmp answers 0 when both share one address space; -1 (no kcmp, no permission) counts as different */
	return syscall(SYS_kcmp, (long)a, (long)b, (long)KCMP_VM, 0L, 0L) == 0;
}

uint64_t pf_guard_tree_rss_bytes(pid_t pid)
{
	char path[64], buf[256];
	char *p, *end;
	unsigned long long res;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if (pf_guard_tree_read_small(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = buf;
	/* field 1 size, field 2 resident (pages) */
	while (*p && *p != ' ')
		p++;
	while (*p == ' ')
		p++;
	res = strtoull(p, &end, 10);
	if (end == p)
		return 0;
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

bool pf_guard_tree_pss_bytes(pid_t pid, uint64_t *out)
{
	char path[64], buf[2048];
	char *p, *end;
	unsigned long long kib;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (pf_guard_tree_read_small(path, buf, sizeof(buf)) <= 0)
		return false;
	/* "...[rollup]\nRss: N kB\nPss: N kB\nPss_Anon: ..." */
	p = strstr(buf, "\nPss:");
	if (!p)
		return false;
	p += 5;
	kib = strtoull(p, &end, 10);
	if (end == p)
		return false;
	*out = (uint64_t)kib * 1024ULL;
	return true;
}

size_t pf_guard_tree_signal_listed(const char *text, bool cut, int sig)
{
	const char *p = text;
	size_t n = 0;
	while (*p) {
		long pid = 0;
		while (*p == ' ' || *p == '\n')
			p++;
		if (*p < '0' || *p > '9')
			break;
		while (*p >= '0' && *p <= '9' && pid < 4194304L * 1024L)
			pid = pid * 10 + (*p++ - '0');
		if (cut && *p == '\0')
			break; /* the buffer may have cut this number short: another pid */
		if (pid > 1) {
			if (sig)
				(void)kill((pid_t)pid, sig);
			n++;
		}
	}
	return n;
}

/* ---- async-signal-safe: killing the children of the calling process ---- */

/* Parent pid from the text of /proc/<pid>/stat ("pid (comm) S ppid ..."), or -1. */
static long stat_ppid(const char *buf, ssize_t len)
{
	const char *p = NULL;
	long ppid = 0;
	for (ssize_t i = len - 1; i >= 0 && !p; i--)
		if (buf[i] == ')')
			p = buf + i;
	if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
		return -1;
	for (p += 4; *p >= '0' && *p <= '9'; p++)
		ppid = ppid * 10 + (*p - '0');
	return ppid;
}

/* Without /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN): SIGKILL every process whose parent is us. */
static size_t kill_children_by_scan(pid_t self)
{
	char dents[4096], path[64], stat[512];
	size_t n = 0;
	long got;
	int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return 0;
	while ((got = syscall(SYS_getdents64, dir, dents, sizeof(dents))) > 0) {
		for (long off = 0; off < got;) {
			/* struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name */
			unsigned short reclen;
			const char *name = dents + off + 19;
			unsigned long pid = 0;
			memcpy(&reclen, dents + off + 16, sizeof(reclen));
			off += reclen;
			for (const char *c = name; *c >= '0' && *c <= '9'; c++)
				pid = pid * 10 + (unsigned long)(*c - '0');
			if (pid <= 1 || name[0] < '0' || name[0] > '9')
				continue;
			memcpy(path, "/proc/", 6);
			memcpy(path + 6 + pf_guard_u64_to_dec(path + 6, pid), "/stat", 6);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t len = fd >= 0 ? read(fd, stat, sizeof(stat) - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (len <= 0)
				continue;
			stat[len] = '\0';
			if (stat_ppid(stat, len) == (long)self && kill((pid_t)pid, SIGKILL) == 0)
				n++;
		}
	}
	close(dir);
	return n;
}

size_t pf_guard_kill_children(void)
{
	pid_t self = getpid();
	char path[64], buf[4096];
	size_t at = 6, n;
	ssize_t len;
	int fd;
	memcpy(path, "/proc/", 6);
	at += pf_guard_u64_to_dec(path + at, (uint64_t)self);
	memcpy(path + at, "/task/", 6);
	at += 6;
	at += pf_guard_u64_to_dec(path + at, (uint64_t)self);
	memcpy(path + at, "/children", 10);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kill_children_by_scan(self);
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	n = pf_guard_tree_signal_listed(buf, (size_t)len == sizeof(buf) - 1, SIGKILL);
	/* a full buffer may have cut the list: the caller comes back until nothing is left */
	return n;
}

