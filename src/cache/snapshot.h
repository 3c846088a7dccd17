/*
 * What a step wrote: the regular files of a folder (recursively) with their
 * size, times and inode before and after the step; the files that are new
 * or changed are the step's outputs, which the store keeps.
 */
#ifndef PF_CACHE_SNAPSHOT_H
#define PF_CACHE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pf_snap_file {
	char *path;           /* relative to the folder */
	uint64_t size, ino, mtime_ns, ctime_ns;
	bool special;         /* a symbolic link, socket, fifo or device: never stored */
} pf_snap_file;

typedef struct pf_snapshot {
	pf_snap_file *files;  /* sorted by path */
	size_t n_files;
	bool truncated;       /* more than PF_SNAPSHOT_MAX_FILES: outputs cannot be told */
} pf_snapshot;

#define PF_SNAPSHOT_MAX_FILES 100000u

/*
 * Record the files under dir, leaving out the top-level names in `skip`
 * (NULL-terminated: logs, steps, the manifest...) and pteflow's own
 * temporary files. A missing folder gives an empty snapshot.
 */
int pf_snapshot_take(pf_snapshot *out, const char *dir, const char *const *skip);

/*
 * The files of `after` that are not in `before` or changed (size, inode,
 * mtime or ctime). *paths points into after (valid while it is); heap array.
 * *special (may be NULL) is set when one of them is not a regular file.
 */
void pf_snapshot_changed(const pf_snap_file ***out, size_t *n_out, const pf_snapshot *before,
			 const pf_snapshot *after, bool *special);

void pf_snapshot_dispose(pf_snapshot *s);

#endif
