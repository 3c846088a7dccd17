/*
 * Folder snapshots (snapshot.h). A walk with lstat, never following
 * symbolic links; bounded to PF_SNAPSHOT_MAX_FILES entries and 64 levels.
 * Workload: an output folder of a few to a few hundred files, twice a step.
 */
#define _GNU_SOURCE
#include "cache/snapshot.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"
#include "util/mem.h"

#define DEPTH_MAX 64

static bool skipped(const char *name, const char *const *skip, int depth)
{
	size_t len = strlen(name);
	if (strstr(name, ".pteflow-"))
		return true; /* a temporary file of pf_safefs_temp: a copy being restored or written */
	for (const char *t = strstr(name, ".tmp."); t; t = strstr(t + 1, ".tmp.")) {
		/* "<name>.tmp.<pid>", the temporary names of older releases */
		size_t k = (size_t)(t - name) + 5;
		while (k < len && name[k] >= '0' && name[k] <= '9')
			k++;
		if (k == len && (size_t)(t - name) + 5 < len)
			return true;
	}
	for (size_t i = 0; depth == 0 && skip && skip[i]; i++)
		if (!strcmp(name, skip[i]))
			return true;
	return false;
}

static void walk(pf_snapshot *s, const char *root, const char *rel, const char *const *skip, int depth)
{
	char *dir = rel ? pf_fs_join(root, rel) : pf_xstrdup(root);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct stat st;
		char *child_rel, *full;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || skipped(de->d_name, skip, depth))
			continue;
		child_rel = rel ? pf_fs_join(rel, de->d_name) : pf_xstrdup(de->d_name);
		full = pf_fs_join(root, child_rel);
		if (lstat(full, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < DEPTH_MAX) {
				walk(s, root, child_rel, skip, depth + 1);
			} else if (s->n_files >= PF_SNAPSHOT_MAX_FILES) {
				s->truncated = true;
			} else if (!S_ISDIR(st.st_mode)) {
				pf_snap_file *f;
				s->files = pf_xreallocarray(s->files, s->n_files + 1, sizeof(pf_snap_file));
				f = &s->files[s->n_files++];
				f->path = child_rel;
				child_rel = NULL;
				f->size = (uint64_t)st.st_size;
				f->ino = (uint64_t)st.st_ino;
				f->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
				f->ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec;
				f->special = !S_ISREG(st.st_mode);
			} else {
				s->truncated = true; /* deeper than DEPTH_MAX */
			}
		}
		free(child_rel);
		free(full);
	}
	if (d)
		closedir(d);
	free(dir);
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const pf_snap_file *)a)->path, ((const pf_snap_file *)b)->path);
}

int pf_snapshot_take(pf_snapshot *out, const char *dir, const char *const *skip)
{
	memset(out, 0, sizeof(*out));
	walk(out, dir, NULL, skip, 0);
	if (out->n_files)
		qsort(out->files, out->n_files, sizeof(pf_snap_file), cmp_path);
	return 0;
}

void pf_snapshot_changed(const pf_snap_file ***out, size_t *n_out, const pf_snapshot *before,
			 const pf_snapshot *after, bool *special)
{
	const pf_snap_file **v = pf_xcalloc(after->n_files + 1, sizeof(*v));
	size_t n = 0, i = 0;
	if (special)
		*special = false;
	for (size_t k = 0; k < after->n_files; k++) {
		const pf_snap_file *a = &after->files[k], *b = NULL;
		while (i < before->n_files && strcmp(before->files[i].path, a->path) < 0)
			i++;
		if (i < before->n_files && !strcmp(before->files[i].path, a->path))
			b = &before->files[i];
		if (b && b->size == a->size && b->ino == a->ino && b->mtime_ns == a->mtime_ns &&
		    b->ctime_ns == a->ctime_ns)
			continue;
		if (a->special && special)
			*special = true;
		v[n++] = a;
	}
	*out = v;
	*n_out = n;
}

void pf_snapshot_dispose(pf_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_files; i++)
		free(s->files[i].path);
	free(s->files);
	memset(s, 0, sizeof(*s));
}
