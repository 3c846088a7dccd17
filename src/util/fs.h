/*
 * File-system helpers shared by every module: directories, bounded reads of
 * small files, atomic replacement of a file, and path joining.
 */
#ifndef PF_UTIL_FS_H
#define PF_UTIL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* mkdir -p with mode 0755. */
int pf_fs_mkdir_p(const char *path);
/* Read a whole file of at most `max` bytes into `out` (appended). PF_ENOTFOUND if absent, PF_ELIMIT if larger. */
int pf_fs_read_file(pf_buf *out, const char *path, size_t max);
/*
 * Replace `path` atomically with `data`: write a new temporary file with an
 * unpredictable name (O_EXCL, never through a planted link) in the same
 * folder, fsync it, rename over `path`, fsync the folder. On any failure the
 * temporary file is removed and `path` is untouched (pf_safefs_write_atomic).
 */
int pf_fs_write_atomic(const char *path, const void *data, size_t len);
/* Heap "a/b" (no doubled slash); caller frees. */
char *pf_fs_join(const char *a, const char *b);
bool pf_fs_exists(const char *path);
bool pf_fs_is_dir(const char *path);
/* true when `rel` under `dir`, or any folder on the way to it, is a symbolic link (lstat; nothing followed). */
bool pf_fs_through_link(const char *dir, const char *rel);
/* Size of a regular file in *out. PF_ENOTFOUND if absent. */
int pf_fs_size(uint64_t *out, const char *path);
/* rm -rf; missing is fine. Does not follow symlinks. */
int pf_fs_remove_tree(const char *path);
/* The folder part of a path, as written: "a/b" -> "a", "b" -> ".", "/b" -> "/" (heap; caller frees). */
char *pf_fs_dirname(const char *path);
/* Absolute, normalised form of a path that may not exist yet (no symlink resolution); caller frees. */
char *pf_fs_absolute(const char *path);

#endif
