/*
 * Internal to src/guard/: the step's process tree from /proc (see tree.c).
 * Not async-signal-safe except pf_guard_tree_read_small() and
 * pf_guard_tree_signal_listed().
 */
#ifndef PF_GUARD_TREE_H
#define PF_GUARD_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pf_guard_tree_stat_info {
	char state; /* 'R', 'S', 'Z'... */
	pid_t ppid;
	pid_t pgid;
} pf_guard_tree_stat_info;

/*
 * Async-signal-safe: send `sig` (0: none) to every pid listed in `text`
 * (decimal, separated by blanks or newlines, as cgroup.procs and the
 * children files are); 0 and 1 are skipped. `cut`: the text filled its
 * buffer, so its last number may be cut short and is skipped (the callers
 * come back for what is left). Returns how many were listed.
 */
size_t pf_guard_tree_signal_listed(const char *text, bool cut, int sig);
/* Read a small file into buf (NUL-terminated, at most cap-1 bytes); length or -1 with errno. */
ssize_t pf_guard_tree_read_small(const char *path, char *buf, size_t cap);
/* State, parent and group of `pid` from /proc/<pid>/stat; 0 or -1 when gone. */
int pf_guard_tree_stat(pid_t pid, pf_guard_tree_stat_info *out);
/*
 * When `pid` started (field 22 of /proc/<pid>/stat, clock ticks since boot):
 * with the pid, it names one process for good (a pid alone is reused). 0 or
 * -1 when it is gone.
 */
int pf_guard_tree_start_time(pid_t pid, uint64_t *out);
/*
 * Every descendant of pteflow (zombies included); *out is a heap array the
 * caller frees; *out_parents (when not NULL) gets each one's parent, same index.
 */
size_t pf_guard_tree_collect(pid_t **out, pid_t **out_parents);
/*
 * true when two processes share one address space (a CLONE_VM child such as
 * vfork or a sanitizer's stop-the-world tracer): count its memory once.
 */
bool pf_guard_tree_same_mm(pid_t a, pid_t b);
/* Resident set of one process (statm resident pages x page size); 0 when gone. */
uint64_t pf_guard_tree_rss_bytes(pid_t pid);
/*
 * Proportional set size of one process (smaps_rollup, Linux >= 4.14): each
 * resident page divided by the number of processes mapping it. Costs a walk
 * of the page tables (~4 ms per GiB resident), unlike the RSS counter.
 * false when it cannot be read (gone, too old a kernel, no permission).
 */
bool pf_guard_tree_pss_bytes(pid_t pid, uint64_t *out);

#endif
