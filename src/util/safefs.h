/*
 * Opening files in a folder that other people may write to (a shared store,
 * a release folder, an output folder an earlier step filled): everything is
 * opened relative to a descriptor of the folder, and nothing on the way is
 * followed. Symbolic links are refused, a FIFO or device is never read (it is
 * opened non-blocking and checked with fstat first), and temporary files get
 * unpredictable names created with O_EXCL, so a planted name cannot redirect a
 * write.
 *
 * Paths given here are relative to the folder descriptor; they must not
 * start with '/' nor hold a ".." component (callers check untrusted paths
 * first; openat2 refuses them too where the kernel has it).
 */
#ifndef PF_UTIL_SAFEFS_H
#define PF_UTIL_SAFEFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * openat(dirfd, rel, flags, mode) with no symbolic link resolved anywhere on
 * the way and nothing outside dirfd reached: openat2 with
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS where the kernel has it, else one
 * component at a time with O_NOFOLLOW. Returns a descriptor, or -1 with errno
 * (ELOOP: a symbolic link on the way; EXDEV: the path leaves dirfd).
 */
int pf_safefs_openat(int dirfd, const char *rel, int flags, mode_t mode);

/*
 * Open rel under dirfd for reading: no link followed, non-blocking open (a
 * FIFO never stalls), then it must be a regular file. *size_bytes (may be NULL)
 * receives its size. Returns the descriptor; PF_ENOTFOUND when absent,
 * PF_EINVALID when it is a link or not a regular file, -1 otherwise (the
 * message names `shown`).
 */
int pf_safefs_open_read(int dirfd, const char *rel, uint64_t *size_bytes, const char *shown);

/*
 * mkdir -p of rel under dirfd (mode 0755), refusing any link on the way;
 * returns a descriptor of the folder (O_DIRECTORY), PF_EINVALID when a
 * component is a link or not a folder, -1 otherwise.
 */
int pf_safefs_mkdirs(int dirfd, const char *rel, const char *shown);

/*
 * Create a new file in dirfd with an unpredictable name (".<stem>.pteflow-<random>",
 * which snapshots of an output folder skip;
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600). name receives the name (at least
 * PF_SAFEFS_TEMP_NAME bytes). Returns the descriptor or -1 (message set).
 */
#define PF_SAFEFS_TEMP_NAME 96
int pf_safefs_temp(char *name, int dirfd, const char *stem);

/*
 * Replace name in dirfd atomically with data (mode 0644): a temporary file of
 * pf_safefs_temp, fsync, renameat, fsync of the folder. A link at name is
 * replaced, never followed. On failure name is untouched.
 */
int pf_safefs_write_atomic(int dirfd, const char *name, const void *data, size_t len, const char *shown);

/* Read fd to its end into a new heap buffer (NUL added); PF_ELIMIT when it holds more than max bytes. */
int pf_safefs_read_all(char **out, size_t *len, int fd, size_t max, const char *shown);

#endif
