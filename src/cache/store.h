/*
 * The local artifact store: a step's outputs, log and result kept under its
 * fingerprint, so a run whose step has not changed restores them instead of
 * running it again.
 *
 * Layout under the store folder ($PTEFLOW_STORE, default
 * ${XDG_CACHE_HOME:-~/.cache}/pteflow/store):
 *   objects/<2 hex>/<sha256>   file contents, named by their SHA-256, read-only, shared by entries
 *   entries/<fingerprint>.json what a step produced: paths, hashes, sizes, the run's figures and
 *                              the fingerprint's components; its mtime is its last use (gc: LRU)
 *   index/<id>                 the last fingerprint stored or used for one (pipeline, target, step)
 *   locks/<fingerprint>.lock   one run computes a fingerprint at a time (flock)
 *   store.lock                 shared by runs, exclusive for gc
 *   tmp/                       files being copied in
 *
 * Files are copied in and out (a reflink where the filesystem has them), never
 * hard-linked: a step that rewrites its output in place would otherwise change
 * the stored bytes through the shared inode. Every restore re-hashes what it
 * copies; a stored file that does not match its SHA-256 is removed with its
 * entry and the restore fails (the caller runs the step and warns), so a
 * truncated or tampered store is never restored silently.
 */
#ifndef PF_CACHE_STORE_H
#define PF_CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache/fingerprint.h"

typedef struct pf_store pf_store;

typedef struct pf_store_file {
	char *path;         /* relative to the output folder; NULL = none (an entry without a result file) */
	char sha256[65];
	uint64_t size_bytes;
	uint64_t ctime_ns;  /* put: when sha256 was taken already, the file's ctime then (0: hash while copying) */
} pf_store_file;

typedef struct pf_store_entry {
	char fingerprint[65];
	char *pipeline;
	char *target;       /* NULL when none */
	char *step;
	char *created_utc;  /* when the step ran */
	uint64_t wall_ms, user_ms, sys_ms, peak_bytes, maxrss_bytes;
	char *guard;        /* guard mode name the step ran under */
	pf_fingerprint fp;  /* its components (explain) */
	pf_store_file *outputs;
	size_t n_outputs;
	pf_store_file log;    /* logs/<step>.log */
	pf_store_file result; /* steps/<step>.result.json, path NULL when the step wrote none */
	time_t last_used;     /* set by pf_store_get / pf_store_list */
	uint64_t bytes;       /* sum of its files' sizes */
} pf_store_entry;

/* Open (creating the folders) the store at dir, or the default when dir is NULL. PF_EENV when unusable. */
int pf_store_open(pf_store **out, const char *dir);
const char *pf_store_dir(const pf_store *s);
void pf_store_free(pf_store *s);
/* The store folder pteflow uses when none is given (heap). */
char *pf_store_default_dir(void);

/*
 * Take the lock of one fingerprint (blocks while another pteflow process
 * holds it; *waited says whether it did). Release with pf_store_unlock.
 */
int pf_store_lock(int *fd, pf_store *s, const char *fingerprint, bool *waited);
void pf_store_unlock(int fd);

/*
 * The entry stored for a fingerprint. PF_ENOTFOUND when there is none;
 * PF_EINVALID when its record cannot be read (the message says why; the
 * caller warns and treats it as a miss). Free with pf_store_entry_free.
 */
int pf_store_get(pf_store_entry **out, pf_store *s, const char *fingerprint);

/*
 * Copy an entry's outputs, log and result into out_dir, each checked against
 * its SHA-256 and size while it is copied; files are put in place only when
 * all of them matched. PF_EINVALID when one did not (the message names it;
 * the entry and the bad object are removed); PF_EENV when out_dir cannot be
 * written. Marks the entry used (LRU) and records it as the last one of its step.
 */
int pf_store_restore(pf_store *s, const pf_store_entry *e, const char *out_dir);

/*
 * Store an entry: copy each file of e (paths relative to out_dir) into the
 * objects, then write the record atomically. A file whose sha256 is empty is
 * hashed while it is copied (sha256 and size_bytes are filled in); one whose
 * sha256 was taken already (with its ctime_ns) is copied as it is and must
 * not have changed since (PF_EINVALID "changed while it was being stored").
 * Safe against concurrent runs (objects and records are renamed into place)
 * and callable from another thread. *stored_bytes (may be NULL) receives the
 * bytes copied in.
 */
int pf_store_put(pf_store *s, pf_store_entry *e, const char *out_dir, uint64_t *stored_bytes);

/* The last fingerprint stored or restored for (pipeline, target, step): PF_ENOTFOUND when none. */
int pf_store_last(char out[65], pf_store *s, const char *pipeline, const char *target, const char *step);

/* Every readable entry, least recently used first (heap array; free each and the array). */
int pf_store_list(pf_store_entry ***out, size_t *n_out, pf_store *s);

typedef struct pf_store_gc_report {
	size_t entries_removed, entries_kept;
	uint64_t bytes_before, bytes_after; /* objects on disk */
	size_t objects_removed;
	size_t broken_removed;              /* unreadable records and leftovers of interrupted copies */
} pf_store_gc_report;

/*
 * Remove least recently used entries until the objects take at most
 * max_bytes, then every object no entry refers to. Holds the store lock
 * exclusively (runs wait for it at their next store operation).
 */
int pf_store_gc(pf_store_gc_report *r, pf_store *s, uint64_t max_bytes, bool dry_run);

/* A record's JSON text to an entry (bounded, every field checked; the fuzz target's way in). PF_EINVALID. */
int pf_store_entry_parse(pf_store_entry **out, const char *text, size_t len);

void pf_store_entry_free(pf_store_entry *e);
/* Free what an entry on the stack holds. */
void pf_store_entry_dispose(pf_store_entry *e);
void pf_store_file_dispose(pf_store_file *f);

#endif
