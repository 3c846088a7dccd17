/*
 * Shared between the files of the store only (store.c: opening, locks,
 * records in and out; store_record.c: the record's JSON; store_object.c:
 * copying files in and out; store_gc.c: listing and gc).
 *
 * Every file of the store is reached through the descriptors below, opened
 * once with O_NOFOLLOW, never through a path: a link planted anywhere in the
 * store is refused, not followed (README, "threat model").
 */
#ifndef PF_CACHE_STORE_INTERNAL_H
#define PF_CACHE_STORE_INTERNAL_H

#include <stdbool.h>

#include "cache/store.h"

#define PF_STORE_RECORD_MAX_BYTES (16u * 1024u * 1024u)
/* A record lists at most as many outputs as a snapshot of an output folder holds. */
#define PF_STORE_MAX_OUTPUTS 100000u
/* A record's files together (what one restore writes) take at most 1 TiB. */
#define PF_STORE_RESTORE_MAX_BYTES (1ull << 40)
/* How long a lock is waited for unless PTEFLOW_STORE_LOCK_TIMEOUT (seconds) says otherwise. */
#define PF_STORE_LOCK_WAIT_S 600u

enum { PF_STORE_OBJECTS, PF_STORE_ENTRIES, PF_STORE_INDEX, PF_STORE_LOCKS, PF_STORE_TMP, PF_STORE_N_DIRS };

struct pf_store {
	char *dir;
	int root_fd;
	int fd[PF_STORE_N_DIRS]; /* objects/, entries/, index/, locks/, tmp/ */
};

/* The folder names, in the order of the enum. */
extern const char *const pf_store_dir_names[PF_STORE_N_DIRS];

/*
 * store.lock for one operation, shared (runs) or exclusive (gc), on a
 * descriptor of its own (flock belongs to the open file: two threads of one
 * run must not share one). Waits at most the lock bound and stops at the
 * first SIGINT/SIGTERM. Returns the descriptor or a negative code (message
 * names the lock).
 */
int pf_store_lock_store(pf_store *s, bool exclusive);

/* The record's file name "<fp>.json" (buffer of 70 bytes). */
void pf_store_entry_name(char out[70], const char *fingerprint);

/* The record of an entry as JSON text (heap). */
char *pf_store_entry_to_json(const pf_store_entry *e);

/*
 * Read entries/<name> (no link, no FIFO, size checked first): PF_ENOTFOUND
 * when absent, PF_EINVALID when unreadable (message names it).
 */
int pf_store_read_entry(pf_store_entry **out, pf_store *s, const char *name);

/* Record the entry as the last one of its (pipeline, target, step). */
void pf_store_set_last(pf_store *s, const pf_store_entry *e);

/* objects/<xx> as a descriptor, created when create is true; PF_ENOTFOUND, PF_EINVALID (a link) or -1. */
int pf_store_object_dir(pf_store *s, const char *sha, bool create);

/* The object f->sha256 exists already (a regular file of f's size). */
bool pf_store_object_there(pf_store *s, const pf_store_file *f);

/* Move tmp/<tmp> (open as fd) to objects/<xx>/<f->sha256>, read-only; *copied (may be NULL) grows by its size. */
int pf_store_object_commit(pf_store *s, int fd, const char *tmp, const pf_store_file *f, uint64_t *copied);

/* Write e's record into entries/ atomically and make it the last one of its step (its objects must be there). */
int pf_store_entry_write(pf_store *s, const pf_store_entry *e);

/* Copy the output folder's file f (under out_fd) into the objects (see pf_store_put). redact: the result file. */
int pf_store_object_put(pf_store *s, pf_store_file *f, int out_fd, bool redact, uint64_t *copied);

#endif
