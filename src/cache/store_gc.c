/*
 * Listing the store and its garbage collection (store.h). gc holds store.lock
 * exclusively, so no run is copying in or restoring meanwhile; runs that
 * looked an entry up before gc removed it find it gone when they take the
 * lock (a miss, not a damaged entry). Folders are read through the store's
 * descriptors: a link planted in objects/ or tmp/ is skipped, never followed,
 * so gc removes files of the store only. Workload: a few thousand entries and
 * objects, one stat each.
 */
#define _GNU_SOURCE
#include "cache/store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"
#include "util/text.h"

/* A readable handle on one of the store's folders (its own descriptor; closedir closes it). */
static DIR *open_dir(int fd)
{
	int d = dup(fd);
	DIR *dir = d >= 0 ? fdopendir(d) : NULL;
	if (!dir && d >= 0)
		close(d);
	if (dir)
		rewinddir(dir); /* a dup shares the offset an earlier listing left at the end */
	return dir;
}

static int cmp_lru(const void *a, const void *b)
{
	const pf_store_entry *x = *(pf_store_entry *const *)a, *y = *(pf_store_entry *const *)b;
	if (x->last_used != y->last_used)
		return x->last_used < y->last_used ? -1 : 1;
	return strcmp(x->fingerprint, y->fingerprint);
}

/* Entries readable under entries/; *broken (may be NULL) receives the names of unreadable records. */
static int load_entries(pf_store_entry ***out, size_t *n_out, pf_store *s, char ***broken, size_t *n_broken)
{
	DIR *d = open_dir(s->fd[PF_STORE_ENTRIES]);
	struct dirent *de;
	pf_store_entry **v = NULL;
	size_t n = 0;
	if (!d)
		return pf_error_errno("the store folder \"%s/entries\" cannot be read", s->dir);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		pf_store_entry *e = NULL;
		int rc;
		if (len != 64 + 5 || strcmp(de->d_name + 64, ".json"))
			continue;
		rc = pf_store_read_entry(&e, s, de->d_name);
		if (rc == 0) {
			v = pf_xreallocarray(v, n + 1, sizeof(*v));
			v[n++] = e;
		} else if (broken && rc != PF_ENOTFOUND) {
			*broken = pf_xreallocarray(*broken, *n_broken + 1, sizeof(char *));
			(*broken)[(*n_broken)++] = pf_xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_lru);
	*out = v;
	*n_out = n;
	return 0;
}

int pf_store_list(pf_store_entry ***out, size_t *n_out, pf_store *s)
{
	int lock = pf_store_lock_store(s, false), rc;
	if (lock < 0)
		return lock;
	rc = load_entries(out, n_out, s, NULL, NULL);
	close(lock);
	return rc;
}

typedef struct object {
	char sha[65];
	uint64_t size;
	size_t refs;
} object;

static int cmp_obj(const void *a, const void *b)
{
	return strcmp(((const object *)a)->sha, ((const object *)b)->sha);
}

static object *find_obj(object *objs, size_t n, const char *sha)
{
	object key;
	memcpy(key.sha, sha, 65);
	return bsearch(&key, objs, n, sizeof(object), cmp_obj);
}

/* Every object on disk with its size. */
/* Every object on disk with its size (regular files named by their SHA-256, in folders that are no link). */
static void scan_objects(object **out, size_t *n_out, const pf_store *s)
{
	DIR *d = open_dir(s->fd[PF_STORE_OBJECTS]);
	struct dirent *de;
	object *v = NULL;
	size_t n = 0;
	while (d && (de = readdir(d))) {
		int sub;
		DIR *d2;
		struct dirent *f;
		if (strlen(de->d_name) != 2)
			continue;
		sub = openat(s->fd[PF_STORE_OBJECTS], de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		d2 = sub >= 0 ? fdopendir(sub) : NULL;
		if (!d2 && sub >= 0)
			close(sub);
		while (d2 && (f = readdir(d2))) {
			struct stat st;
			if (!pf_is_sha256_hex(f->d_name) || strncmp(f->d_name, de->d_name, 2))
				continue;
			if (fstatat(dirfd(d2), f->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
				v = pf_xreallocarray(v, n + 1, sizeof(object));
				memcpy(v[n].sha, f->d_name, 65);
				v[n].size = (uint64_t)st.st_size;
				v[n].refs = 0;
				n++;
			}
		}
		if (d2)
			closedir(d2);
	}
	if (d)
		closedir(d);
	if (n)
		qsort(v, n, sizeof(object), cmp_obj);
	*out = v;
	*n_out = n;
}

static void each_file(const pf_store_entry *e, object *objs, size_t n, int delta, uint64_t *live)
{
	const pf_store_file *files[2] = {&e->log, &e->result};
	for (size_t i = 0; i < e->n_outputs + 2; i++) {
		const pf_store_file *f = i < e->n_outputs ? &e->outputs[i] : files[i - e->n_outputs];
		object *o = f->path ? find_obj(objs, n, f->sha256) : NULL;
		if (!o)
			continue;
		if (delta > 0 && o->refs++ == 0)
			*live += o->size;
		else if (delta < 0 && o->refs > 0 && --o->refs == 0)
			*live -= o->size;
	}
}

/* Leftovers of interrupted copies: the files (never folders or what a link points to) in tmp/. */
static void clean_tmp(pf_store *s, pf_store_gc_report *r, bool dry_run)
{
	DIR *d = open_dir(s->fd[PF_STORE_TMP]);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (fstatat(s->fd[PF_STORE_TMP], de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (dry_run || unlinkat(s->fd[PF_STORE_TMP], de->d_name, 0) == 0)
			r->broken_removed++;
	}
	if (d)
		closedir(d);
}

/* Remove objects/<xx>/<sha> through the folder's own descriptor. */
static bool remove_object(pf_store *s, const char *sha)
{
	int dfd = pf_store_object_dir(s, sha, false);
	bool ok = dfd >= 0 && unlinkat(dfd, sha, 0) == 0;
	if (dfd >= 0)
		close(dfd);
	return ok;
}

int pf_store_gc(pf_store_gc_report *r, pf_store *s, uint64_t max_bytes, bool dry_run)
{
	pf_store_entry **entries = NULL;
	char **broken = NULL, name[70];
	size_t n = 0, n_broken = 0, n_objs = 0, first_kept = 0;
	object *objs = NULL;
	uint64_t live = 0, on_disk = 0;
	int rc, lock;
	memset(r, 0, sizeof(*r));
	lock = pf_store_lock_store(s, true);
	if (lock < 0)
		return lock;
	if ((rc = load_entries(&entries, &n, s, &broken, &n_broken)) < 0)
		goto done;
	scan_objects(&objs, &n_objs, s);
	for (size_t i = 0; i < n_objs; i++)
		on_disk += objs[i].size;
	r->bytes_before = on_disk;
	for (size_t i = 0; i < n; i++)
		each_file(entries[i], objs, n_objs, +1, &live);
	/* least recently used first, until what the remaining entries need fits */
	while (first_kept < n && live > max_bytes) {
		pf_store_entry *e = entries[first_kept++];
		each_file(e, objs, n_objs, -1, &live);
		pf_store_entry_name(name, e->fingerprint);
		if (!dry_run)
			(void)unlinkat(s->fd[PF_STORE_ENTRIES], name, 0);
		r->entries_removed++;
	}
	r->entries_kept = n - first_kept;
	for (size_t i = 0; i < n_objs; i++) {
		if (objs[i].refs)
			continue;
		if (dry_run || remove_object(s, objs[i].sha)) {
			r->objects_removed++;
			on_disk -= objs[i].size;
		}
	}
	r->bytes_after = on_disk;
	for (size_t i = 0; i < n_broken; i++)
		if (dry_run || unlinkat(s->fd[PF_STORE_ENTRIES], broken[i], 0) == 0)
			r->broken_removed++;
	clean_tmp(s, r, dry_run);
done:
	close(lock);
	for (size_t i = 0; i < n; i++)
		pf_store_entry_free(entries[i]);
	free(entries);
	pf_strv_free(broken, n_broken);
	free(objs);
	return rc;
}
