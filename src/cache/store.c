/*
 * The local artifact store (store.h): content-addressed objects, one JSON
 * record per fingerprint, flock-based locks, LRU garbage collection.
 *
 * Concurrency: objects and records are written to a temporary name and
 * renamed into place, so a reader sees a whole file or none; two runs that
 * store the same object write the same bytes. Runs hold store.lock shared
 * while they copy in or out, gc holds it exclusively, so gc never removes an
 * object a run is about to refer to. One run at a time computes a given
 * fingerprint (locks/<fp>.lock); the other waits, then restores.
 *
 * Records are the store's own files but are parsed as untrusted input:
 * bounded size, types checked, paths relative without "..", hashes 64 hex
 * digits. Copies stream through a 1 MiB buffer: memory stays flat whatever
 * the artifact's size.
 */
#define _GNU_SOURCE
#include "cache/store.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/text.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

#define RECORD_MAX_BYTES (16u * 1024u * 1024u)
#define COPY_CHUNK (1024u * 1024u)
#define ENTRY_FORMAT 1
#define PATH_MAX_LEN 4096u

struct pf_store {
	char *dir;
	int lock_fd; /* store.lock, opened once to find an unusable store early */
};

char *pf_store_default_dir(void)
{
	const char *env = getenv("PTEFLOW_STORE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (env && env[0])
		return pf_xstrdup(env);
	if (xdg && xdg[0])
		return pf_xasprintf("%s/pteflow/store", xdg);
	return pf_xasprintf("%s/.cache/pteflow/store", home && home[0] ? home : ".");
}

int pf_store_open(pf_store **out, const char *dir)
{
	static const char *const subdirs[] = {"objects", "entries", "index", "locks", "tmp", NULL};
	pf_store *s = pf_xcalloc(1, sizeof(*s));
	char *lock = NULL;
	int rc = 0;
	s->lock_fd = -1;
	s->dir = dir ? pf_fs_absolute(dir) : NULL;
	if (!s->dir) {
		char *d = pf_store_default_dir();
		s->dir = pf_fs_absolute(d);
		free(d);
	}
	for (size_t i = 0; subdirs[i] && rc == 0; i++) {
		char *p = pf_fs_join(s->dir, subdirs[i]);
		rc = pf_fs_mkdir_p(p);
		free(p);
	}
	if (rc < 0) {
		rc = pf_error_code(PF_EENV, "the store \"%s\" cannot be used: %s; set PTEFLOW_STORE to a writable folder "
					    "or pass --no-cache", s->dir, pf_error_last());
		goto done;
	}
	lock = pf_fs_join(s->dir, "store.lock");
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		rc = pf_error_errno("the store lock \"%s\" cannot be opened", lock);
		rc = pf_error_code(PF_EENV, "%s; set PTEFLOW_STORE to a writable folder or pass --no-cache",
				   pf_error_last());
	}
done:
	free(lock);
	if (rc < 0) {
		pf_store_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

const char *pf_store_dir(const pf_store *s)
{
	return s->dir;
}

void pf_store_free(pf_store *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s);
}

/*
 * store.lock for one operation, on a descriptor of its own: flock belongs to
 * the open file, so two threads of one run (a background put and a restore)
 * must not share one. Returns the descriptor for store_unlock (-1 when it
 * cannot be opened: the operation goes on unlocked, as the store itself
 * still renames every file into place).
 */
static int store_lock(pf_store *s, int how)
{
	char *path = pf_fs_join(s->dir, "store.lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(path);
	while (fd >= 0 && flock(fd, how) < 0 && errno == EINTR)
		;
	return fd;
}

static void store_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

int pf_store_lock(int *fd, pf_store *s, const char *fingerprint, bool *waited)
{
	char *path = pf_xasprintf("%s/locks/%s.lock", s->dir, fingerprint);
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc = 0;
	*waited = false;
	if (f < 0) {
		rc = pf_error_errno("the store lock \"%s\" cannot be opened", path);
		goto done;
	}
	if (flock(f, LOCK_EX | LOCK_NB) < 0) {
		*waited = true;
		while (flock(f, LOCK_EX) < 0) {
			if (errno != EINTR) {
				rc = pf_error_errno("the store lock \"%s\" cannot be taken", path);
				close(f);
				goto done;
			}
		}
	}
	*fd = f;
done:
	free(path);
	return rc;
}

void pf_store_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

static char *object_path(const pf_store *s, const char *sha)
{
	return pf_xasprintf("%s/objects/%.2s/%s", s->dir, sha, sha);
}

static char *entry_path(const pf_store *s, const char *fp)
{
	return pf_xasprintf("%s/entries/%s.json", s->dir, fp);
}

/* Relative, no "." or ".." component, no empty component, not too long. */
static bool rel_path_safe(const char *p)
{
	size_t len = p ? strlen(p) : 0;
	if (!len || len > PATH_MAX_LEN || p[0] == '/')
		return false;
	for (const char *c = p; *c;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n + (slash ? 1 : 0);
		if (slash && !*c)
			return false;
	}
	return true;
}

void pf_store_file_dispose(pf_store_file *f)
{
	if (f) {
		free(f->path);
		memset(f, 0, sizeof(*f));
	}
}

void pf_store_entry_free(pf_store_entry *e)
{
	pf_store_entry_dispose(e);
	free(e);
}

void pf_store_entry_dispose(pf_store_entry *e)
{
	if (!e)
		return;
	free(e->pipeline);
	free(e->target);
	free(e->step);
	free(e->created_utc);
	free(e->guard);
	pf_fp_dispose(&e->fp);
	for (size_t i = 0; i < e->n_outputs; i++)
		pf_store_file_dispose(&e->outputs[i]);
	free(e->outputs);
	pf_store_file_dispose(&e->log);
	pf_store_file_dispose(&e->result);
	memset(e, 0, sizeof(*e));
}

/* ---- copying with a hash ---- */

/*
 * Copy src_fd to dst_fd (a reflink when the filesystem can, else a stream
 * copy) and hash what was read. The hash is of the source bytes in both cases.
 * dst_fd < 0: hash only.
 */
static int copy_hashed(int dst_fd, int src_fd, char hex[65], uint64_t *size, const char *what)
{
	char *buf = pf_xmalloc(COPY_CHUNK);
	pf_sha256 *h = pf_sha256_new();
	bool cloned = dst_fd < 0 || ioctl(dst_fd, FICLONE, src_fd) == 0;
	uint64_t total = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(src_fd, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pf_error_errno("\"%s\" cannot be read", what);
			break;
		}
		if (n == 0)
			break;
		pf_sha256_update(h, buf, (size_t)n);
		total += (uint64_t)n;
		for (ssize_t off = 0; !cloned && off < n;) {
			ssize_t w = write(dst_fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = pf_error_errno("\"%s\" cannot be copied", what);
				goto done;
			}
			off += w;
		}
	}
done:
	pf_sha256_final_hex(h, hex);
	*size = total;
	free(buf);
	return rc;
}

/* Open a temporary file in folder dir (mode 0600 until it is renamed). */
static int temp_in(char **out_path, const char *dir, const char *stem)
{
	char *path = pf_xasprintf("%s/.%s.pteflow-XXXXXX", dir, stem);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int rc = pf_error_errno("a temporary file cannot be created in \"%s\"", dir);
		free(path);
		return rc;
	}
	*out_path = path;
	return fd;
}

static uint64_t ctime_of(const struct stat *st)
{
	return (uint64_t)st->st_ctim.tv_sec * 1000000000u + (uint64_t)st->st_ctim.tv_nsec;
}

/* Copy without hashing (the hash is known): in the kernel where it can, else through a buffer. */
static int copy_plain(int dst_fd, int src_fd, uint64_t size, const char *what)
{
	uint64_t done = 0;
	char *buf = NULL;
	int rc = 0;
	if (ioctl(dst_fd, FICLONE, src_fd) == 0)
		return 0;
	while (done < size) {
		loff_t in_off = (loff_t)done, out_off = (loff_t)done; /* explicit: the source may have been read through */
		ssize_t n = copy_file_range(src_fd, &in_off, dst_fd, &out_off,
					    (size_t)(size - done > (1u << 30) ? (1u << 30) : size - done), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* not supported here, or the file ended early: the buffer loop finds out which */
		done += (uint64_t)n;
	}
	while (done < size && rc == 0) {
		ssize_t n;
		if (!buf)
			buf = pf_xmalloc(COPY_CHUNK);
		n = pread(src_fd, buf, COPY_CHUNK, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? pf_error_errno("\"%s\" cannot be read", what)
				   : pf_error_code(PF_EINVALID, "\"%s\" changed while it was being copied", what);
			break;
		}
		for (ssize_t off = 0; off < n && rc == 0;) {
			ssize_t w = pwrite(dst_fd, buf + off, (size_t)(n - off), (off_t)(done + (uint64_t)off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				rc = pf_error_errno("\"%s\" cannot be copied", what);
			else
				off += w;
		}
		done += (uint64_t)n;
	}
	free(buf);
	return rc;
}

/* Copy the output folder's file f into the objects (see pf_store_put for a known or unknown hash). */
static int put_object(pf_store *s, pf_store_file *f, const char *out_dir, uint64_t *copied)
{
	char *src = pf_fs_join(out_dir, f->path), *tmpdir = pf_fs_join(s->dir, "tmp"), *tmp = NULL;
	char *obj = NULL, *objdir = NULL;
	int in = -1, fd = -1, rc = 0;
	struct stat st;
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = in < 0 ? pf_error_errno("\"%s\" cannot be opened", src)
			    : pf_error_set("\"%s\" is not a regular file", src);
		goto done;
	}
	if (f->sha256[0]) {
		char *known = object_path(s, f->sha256);
		bool there = pf_fs_exists(known);
		free(known);
		if ((uint64_t)st.st_size != f->size_bytes || ctime_of(&st) != f->ctime_ns) {
			rc = pf_error_code(PF_EINVALID, "\"%s\" changed after the step that wrote it ended", f->path);
			goto done;
		}
		if (there)
			goto done; /* the same bytes are stored already */
	}
	if ((fd = temp_in(&tmp, tmpdir, "object")) < 0) {
		rc = fd;
		goto done;
	}
	if (f->sha256[0]) {
		struct stat after;
		if ((rc = copy_plain(fd, in, f->size_bytes, src)) < 0)
			goto done;
		if (fstat(in, &after) < 0 || ctime_of(&after) != f->ctime_ns || after.st_size != st.st_size) {
			rc = pf_error_code(PF_EINVALID, "\"%s\" changed while it was being stored", f->path);
			goto done;
		}
	} else if ((rc = copy_hashed(fd, in, f->sha256, &f->size_bytes, src)) < 0) {
		goto done;
	}
	obj = object_path(s, f->sha256);
	if (pf_fs_exists(obj))
		goto done; /* the same bytes are stored already */
	objdir = pf_xasprintf("%s/objects/%.2s", s->dir, f->sha256);
	if ((rc = pf_fs_mkdir_p(objdir)) < 0)
		goto done;
	if (fchmod(fd, 0444) < 0 || rename(tmp, obj) < 0) {
		rc = pf_error_errno("\"%s\" cannot be stored", f->path);
		goto done;
	}
	free(tmp);
	tmp = NULL;
	if (copied)
		*copied += f->size_bytes;
done:
	if (fd >= 0)
		close(fd);
	if (in >= 0)
		close(in);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(obj);
	free(objdir);
	free(src);
	free(tmpdir);
	return rc;
}

/* ---- records ---- */

static void add_file_json(cJSON *obj, const char *key, const pf_store_file *f)
{
	cJSON *o;
	if (!f->path) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", f->path);
	cJSON_AddStringToObject(o, "sha256", f->sha256);
	cJSON_AddNumberToObject(o, "size", (double)f->size_bytes);
	cJSON_AddItemToObject(obj, key, o);
}

static char *entry_to_json(const pf_store_entry *e)
{
	cJSON *root = cJSON_CreateObject(), *run = cJSON_CreateObject(), *outs = cJSON_CreateArray();
	char *text, *copy;
	cJSON_AddNumberToObject(root, "format", ENTRY_FORMAT);
	cJSON_AddStringToObject(root, "fingerprint", e->fingerprint);
	cJSON_AddStringToObject(root, "pipeline", e->pipeline ? e->pipeline : "");
	if (e->target)
		cJSON_AddStringToObject(root, "target", e->target);
	else
		cJSON_AddNullToObject(root, "target");
	cJSON_AddStringToObject(root, "step", e->step ? e->step : "");
	cJSON_AddStringToObject(root, "created_utc", e->created_utc ? e->created_utc : "");
	cJSON_AddNumberToObject(run, "wall_ms", (double)e->wall_ms);
	cJSON_AddNumberToObject(run, "user_ms", (double)e->user_ms);
	cJSON_AddNumberToObject(run, "sys_ms", (double)e->sys_ms);
	cJSON_AddNumberToObject(run, "peak_bytes", (double)e->peak_bytes);
	cJSON_AddNumberToObject(run, "maxrss_bytes", (double)e->maxrss_bytes);
	cJSON_AddStringToObject(run, "guard", e->guard ? e->guard : "none");
	cJSON_AddItemToObject(root, "run", run);
	for (size_t i = 0; i < e->n_outputs; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", e->outputs[i].path);
		cJSON_AddStringToObject(o, "sha256", e->outputs[i].sha256);
		cJSON_AddNumberToObject(o, "size", (double)e->outputs[i].size_bytes);
		cJSON_AddItemToArray(outs, o);
	}
	cJSON_AddItemToObject(root, "outputs", outs);
	add_file_json(root, "log", &e->log);
	add_file_json(root, "result", &e->result);
	cJSON_AddItemToObject(root, "components", pf_fp_to_json(&e->fp));
	text = cJSON_Print(root);
	copy = pf_xstrdup(text ? text : "{}");
	cJSON_free(text);
	cJSON_Delete(root);
	return copy;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool ju64(const cJSON *o, const char *k, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

static int file_from_json(pf_store_file *f, const cJSON *o, const char *what)
{
	const char *path = jstr(o, "path"), *sha = jstr(o, "sha256");
	if (!rel_path_safe(path) || !pf_is_sha256_hex(sha) || !ju64(o, "size", &f->size_bytes))
		return pf_error_code(PF_EINVALID, "its %s entry has no safe relative path, sha256 or size", what);
	f->path = pf_xstrdup(path);
	memcpy(f->sha256, sha, 65);
	return 0;
}

static int entry_from_json(pf_store_entry *e, const char *text, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(text, len), *run, *outs, *o;
	const char *fp, *target;
	int rc = 0;
	uint64_t fmt = 0;
	if (!root || !cJSON_IsObject(root)) {
		rc = pf_error_code(PF_EINVALID, "it is not a JSON object");
		goto done;
	}
	fp = jstr(root, "fingerprint");
	run = cJSON_GetObjectItemCaseSensitive(root, "run");
	outs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
	if (!ju64(root, "format", &fmt) || fmt != ENTRY_FORMAT || !pf_is_sha256_hex(fp) || !jstr(root, "step") ||
	    !cJSON_IsObject(run) || !cJSON_IsArray(outs)) {
		rc = pf_error_code(PF_EINVALID, "it lacks format %d, fingerprint, step, run or outputs", ENTRY_FORMAT);
		goto done;
	}
	memcpy(e->fingerprint, fp, 65);
	e->pipeline = pf_xstrdup(jstr(root, "pipeline") ? jstr(root, "pipeline") : "");
	target = jstr(root, "target");
	e->target = target ? pf_xstrdup(target) : NULL;
	e->step = pf_xstrdup(jstr(root, "step"));
	e->created_utc = pf_xstrdup(jstr(root, "created_utc") ? jstr(root, "created_utc") : "");
	e->guard = pf_xstrdup(jstr(run, "guard") ? jstr(run, "guard") : "none");
	ju64(run, "wall_ms", &e->wall_ms);
	ju64(run, "user_ms", &e->user_ms);
	ju64(run, "sys_ms", &e->sys_ms);
	ju64(run, "peak_bytes", &e->peak_bytes);
	ju64(run, "maxrss_bytes", &e->maxrss_bytes);
	e->outputs = pf_xcalloc((size_t)cJSON_GetArraySize(outs) + 1, sizeof(pf_store_file));
	cJSON_ArrayForEach(o, outs)
	{
		if ((rc = file_from_json(&e->outputs[e->n_outputs], o, "output")) < 0)
			goto done;
		e->n_outputs++;
	}
	o = cJSON_GetObjectItemCaseSensitive(root, "log");
	if (!cJSON_IsObject(o) || (rc = file_from_json(&e->log, o, "log")) < 0) {
		rc = pf_error_code(PF_EINVALID, "its log entry is missing or malformed");
		goto done;
	}
	o = cJSON_GetObjectItemCaseSensitive(root, "result");
	if (cJSON_IsObject(o) && (rc = file_from_json(&e->result, o, "result")) < 0)
		goto done;
	if ((rc = pf_fp_from_json(&e->fp, cJSON_GetObjectItemCaseSensitive(root, "components"))) < 0)
		goto done;
	if (strcmp(e->fp.sha256, e->fingerprint))
		rc = pf_error_code(PF_EINVALID, "its components do not hash to its fingerprint");
done:
	cJSON_Delete(root);
	return rc;
}

int pf_store_entry_parse(pf_store_entry **out, const char *text, size_t len)
{
	pf_store_entry *e = pf_xcalloc(1, sizeof(*e));
	int rc = len > RECORD_MAX_BYTES ? pf_error_code(PF_EINVALID, "it is larger than 16 MiB")
					: entry_from_json(e, text, len);
	if (rc < 0) {
		pf_store_entry_free(e);
		return rc;
	}
	e->bytes = e->log.size_bytes + e->result.size_bytes;
	for (size_t i = 0; i < e->n_outputs; i++)
		e->bytes += e->outputs[i].size_bytes;
	*out = e;
	return 0;
}

static int read_entry(pf_store_entry **out, const char *path)
{
	pf_buf b;
	struct stat st;
	int rc;
	pf_buf_init(&b, RECORD_MAX_BYTES);
	rc = pf_fs_read_file(&b, path, RECORD_MAX_BYTES);
	if (rc == 0 && (rc = pf_store_entry_parse(out, pf_buf_cstr(&b), b.len)) < 0)
		rc = pf_error_code(PF_EINVALID, "the store record \"%s\" is unreadable: %s", path, pf_error_last());
	else if (rc < 0)
		rc = pf_error_code(PF_EINVALID, "the store record \"%s\" is unreadable: %s", path, pf_error_last());
	if (rc == 0 && stat(path, &st) == 0)
		(*out)->last_used = st.st_mtime;
	pf_buf_dispose(&b);
	return rc;
}

int pf_store_get(pf_store_entry **out, pf_store *s, const char *fingerprint)
{
	char *path = entry_path(s, fingerprint);
	int rc;
	*out = NULL;
	if (!pf_fs_exists(path)) {
		free(path);
		return PF_ENOTFOUND;
	}
	rc = read_entry(out, path);
	if (rc == 0 && strcmp((*out)->fingerprint, fingerprint)) {
		rc = pf_error_code(PF_EINVALID, "the store record \"%s\" holds another fingerprint", path);
		pf_store_entry_free(*out);
		*out = NULL;
	}
	free(path);
	return rc;
}

static char *index_path(const pf_store *s, const char *pipeline, const char *target, const char *step)
{
	pf_sha256 *h = pf_sha256_new();
	char id[65];
	pf_sha256_update(h, pipeline, strlen(pipeline) + 1);
	pf_sha256_update(h, target ? target : "", strlen(target ? target : "") + 1);
	pf_sha256_update(h, step, strlen(step) + 1);
	pf_sha256_final_hex(h, id);
	return pf_xasprintf("%s/index/%s", s->dir, id);
}

static void set_last(pf_store *s, const pf_store_entry *e)
{
	char *path = index_path(s, e->pipeline ? e->pipeline : "", e->target, e->step ? e->step : "");
	if (pf_fs_write_atomic(path, e->fingerprint, 64) < 0)
		pf_log_warn("the store index \"%s\" could not be updated: %s", path, pf_error_last());
	free(path);
}

int pf_store_last(char out[65], pf_store *s, const char *pipeline, const char *target, const char *step)
{
	char *path = index_path(s, pipeline, target, step);
	pf_buf b;
	int rc;
	pf_buf_init(&b, 128);
	rc = pf_fs_read_file(&b, path, 128);
	if (rc == 0 && !(b.len == 64 && pf_is_sha256_hex(pf_buf_cstr(&b))))
		rc = PF_ENOTFOUND;
	if (rc == 0)
		memcpy(out, pf_buf_cstr(&b), 65);
	pf_buf_dispose(&b);
	free(path);
	return rc < 0 ? PF_ENOTFOUND : 0;
}

int pf_store_put(pf_store *s, pf_store_entry *e, const char *out_dir, uint64_t *stored_bytes)
{
	char *text = NULL, *path = NULL;
	uint64_t copied = 0;
	int rc = 0;
	int lock = store_lock(s, LOCK_SH);
	for (size_t i = 0; i < e->n_outputs && rc == 0; i++)
		rc = put_object(s, &e->outputs[i], out_dir, &copied);
	if (rc == 0 && e->log.path)
		rc = put_object(s, &e->log, out_dir, &copied);
	if (rc == 0 && e->result.path)
		rc = put_object(s, &e->result, out_dir, &copied);
	if (rc < 0)
		goto done;
	text = entry_to_json(e);
	path = entry_path(s, e->fingerprint);
	if ((rc = pf_fs_write_atomic(path, text, strlen(text))) < 0)
		goto done;
	set_last(s, e);
	if (stored_bytes)
		*stored_bytes = copied;
done:
	store_unlock(lock);
	free(text);
	free(path);
	return rc;
}

/* ---- restoring ---- */

typedef struct staged {
	const pf_store_file *f;
	char *tmp;   /* verified copy beside its destination */
	char *dest;
} staged;

/* mkdir -p the folder of out_dir/rel. */
static int make_parent(const char *out_dir, const char *rel)
{
	char *full = pf_fs_join(out_dir, rel), *slash = strrchr(full, '/');
	int rc = 0;
	if (slash) {
		*slash = '\0';
		rc = pf_fs_mkdir_p(full);
	}
	free(full);
	return rc;
}

/* Copy one object next to its destination, checking its hash and size. PF_EINVALID on a mismatch. */
static int stage_one(pf_store *s, staged *st, const char *out_dir)
{
	char *obj = object_path(s, st->f->sha256), *dir = NULL, *slash;
	char hex[65];
	uint64_t size = 0;
	struct stat before, after;
	int in = -1, fd = -1, rc;
	st->dest = pf_fs_join(out_dir, st->f->path);
	if ((rc = make_parent(out_dir, st->f->path)) < 0)
		goto done;
	in = open(obj, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0) {
		rc = pf_error_code(PF_EINVALID, "stored file \"%s\" is missing from the store (%s)", st->f->path,
				   strerror(errno));
		goto done;
	}
	dir = pf_xstrdup(st->dest);
	slash = strrchr(dir, '/');
	*slash = '\0';
	if ((fd = temp_in(&st->tmp, dir, slash + 1)) < 0) {
		rc = pf_error_code(PF_EENV, "%s", pf_error_last());
		goto done;
	}
	/* check the stored bytes first, then copy them in the kernel (a reflink where it can): faster than
	 * hashing while copying through a buffer; the object must not change in between */
	if (fstat(in, &before) < 0 || (rc = copy_hashed(-1, in, hex, &size, obj)) < 0) {
		rc = pf_error_code(PF_EENV, "stored file \"%s\" cannot be read: %s", st->f->path, pf_error_last());
		goto done;
	}
	if (strcmp(hex, st->f->sha256) || size != st->f->size_bytes) {
		rc = pf_error_code(PF_EINVALID,
				   "stored file \"%s\" does not match its SHA-256 (%llu bytes, sha256 %.16s..., expected "
				   "%llu bytes, %.16s...): the store entry is damaged or was tampered with",
				   st->f->path, (unsigned long long)size, hex, (unsigned long long)st->f->size_bytes,
				   st->f->sha256);
		unlink(obj); /* a damaged object must not serve another entry either */
		goto done;
	}
	if ((rc = copy_plain(fd, in, size, obj)) < 0 && rc != PF_EINVALID) {
		rc = pf_error_code(PF_EENV, "%s", pf_error_last());
		goto done;
	}
	if (rc == 0 && (fstat(in, &after) < 0 || ctime_of(&after) != ctime_of(&before) || after.st_size != before.st_size))
		rc = pf_error_code(PF_EINVALID, "stored file \"%s\" changed while it was being restored", st->f->path);
	if (rc < 0)
		goto done;
	if (fchmod(fd, 0644) < 0)
		rc = pf_error_errno("\"%s\" cannot be restored", st->dest);
done:
	if (fd >= 0)
		close(fd);
	if (in >= 0)
		close(in);
	free(obj);
	free(dir);
	return rc;
}

int pf_store_restore(pf_store *s, const pf_store_entry *e, const char *out_dir)
{
	size_t n = e->n_outputs + 2, used = 0;
	staged *st = pf_xcalloc(n, sizeof(staged));
	int rc = 0, lock;
	for (size_t i = 0; i < e->n_outputs; i++)
		st[used++].f = &e->outputs[i];
	st[used++].f = &e->log;
	if (e->result.path)
		st[used++].f = &e->result;
	lock = store_lock(s, LOCK_SH);
	for (size_t i = 0; i < used && rc == 0; i++)
		rc = stage_one(s, &st[i], out_dir);
	/* all verified: now put them in place */
	for (size_t i = 0; i < used && rc == 0; i++) {
		if (rename(st[i].tmp, st[i].dest) < 0)
			rc = pf_error_errno("\"%s\" cannot be restored", st[i].dest);
		else {
			free(st[i].tmp);
			st[i].tmp = NULL;
		}
	}
	if (rc == PF_EINVALID) {
		char *path = entry_path(s, e->fingerprint);
		unlink(path);
		free(path);
	} else if (rc == 0) {
		char *path = entry_path(s, e->fingerprint);
		utimensat(AT_FDCWD, path, NULL, 0); /* used now: last to go in gc */
		free(path);
		set_last(s, e);
	}
	store_unlock(lock);
	for (size_t i = 0; i < used; i++) {
		if (st[i].tmp)
			unlink(st[i].tmp);
		free(st[i].tmp);
		free(st[i].dest);
	}
	free(st);
	return rc;
}

/* ---- listing and gc ---- */

static int cmp_lru(const void *a, const void *b)
{
	const pf_store_entry *x = *(pf_store_entry *const *)a, *y = *(pf_store_entry *const *)b;
	if (x->last_used != y->last_used)
		return x->last_used < y->last_used ? -1 : 1;
	return strcmp(x->fingerprint, y->fingerprint);
}

/* Entries readable under entries/; *broken (may be NULL) receives the paths of unreadable records. */
static int load_entries(pf_store_entry ***out, size_t *n_out, pf_store *s, char ***broken, size_t *n_broken)
{
	char *dir = pf_fs_join(s->dir, "entries");
	DIR *d = opendir(dir);
	struct dirent *de;
	pf_store_entry **v = NULL;
	size_t n = 0;
	if (!d) {
		int rc = pf_error_errno("the store folder \"%s\" cannot be read", dir);
		free(dir);
		return rc;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char *path;
		pf_store_entry *e = NULL;
		if (len != 64 + 5 || strcmp(de->d_name + 64, ".json"))
			continue;
		path = pf_fs_join(dir, de->d_name);
		if (read_entry(&e, path) == 0) {
			v = pf_xreallocarray(v, n + 1, sizeof(*v));
			v[n++] = e;
		} else if (broken) {
			*broken = pf_xreallocarray(*broken, *n_broken + 1, sizeof(char *));
			(*broken)[(*n_broken)++] = pf_xstrdup(path);
		}
		free(path);
	}
	closedir(d);
	free(dir);
	if (n)
		qsort(v, n, sizeof(*v), cmp_lru);
	*out = v;
	*n_out = n;
	return 0;
}

int pf_store_list(pf_store_entry ***out, size_t *n_out, pf_store *s)
{
	int lock = store_lock(s, LOCK_SH), rc = load_entries(out, n_out, s, NULL, NULL);
	store_unlock(lock);
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
static void scan_objects(object **out, size_t *n_out, const pf_store *s)
{
	char *root = pf_fs_join(s->dir, "objects");
	DIR *d = opendir(root);
	struct dirent *de;
	object *v = NULL;
	size_t n = 0;
	while (d && (de = readdir(d))) {
		char *sub;
		DIR *d2;
		struct dirent *f;
		if (strlen(de->d_name) != 2)
			continue;
		sub = pf_fs_join(root, de->d_name);
		d2 = opendir(sub);
		while (d2 && (f = readdir(d2))) {
			struct stat st;
			char *p;
			if (!pf_is_sha256_hex(f->d_name))
				continue;
			p = pf_fs_join(sub, f->d_name);
			if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				v = pf_xreallocarray(v, n + 1, sizeof(object));
				memcpy(v[n].sha, f->d_name, 65);
				v[n].size = (uint64_t)st.st_size;
				v[n].refs = 0;
				n++;
			}
			free(p);
		}
		if (d2)
			closedir(d2);
		free(sub);
	}
	if (d)
		closedir(d);
	free(root);
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

static void clean_tmp(pf_store *s, pf_store_gc_report *r, bool dry_run)
{
	char *dir = pf_fs_join(s->dir, "tmp");
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char *p;
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		p = pf_fs_join(dir, de->d_name);
		if (dry_run || unlink(p) == 0)
			r->broken_removed++;
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
}

int pf_store_gc(pf_store_gc_report *r, pf_store *s, uint64_t max_bytes, bool dry_run)
{
	pf_store_entry **entries = NULL;
	char **broken = NULL;
	size_t n = 0, n_broken = 0, n_objs = 0, first_kept = 0;
	object *objs = NULL;
	uint64_t live = 0, on_disk = 0;
	int rc;
	int lock;
	memset(r, 0, sizeof(*r));
	lock = store_lock(s, LOCK_EX);
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
		if (!dry_run) {
			char *path = entry_path(s, e->fingerprint);
			unlink(path);
			free(path);
		}
		r->entries_removed++;
	}
	r->entries_kept = n - first_kept;
	for (size_t i = 0; i < n_objs; i++) {
		char *path;
		if (objs[i].refs)
			continue;
		path = object_path(s, objs[i].sha);
		if (dry_run || unlink(path) == 0) {
			r->objects_removed++;
			on_disk -= objs[i].size;
		}
		free(path);
	}
	r->bytes_after = on_disk;
	for (size_t i = 0; i < n_broken; i++)
		if (dry_run || unlink(broken[i]) == 0)
			r->broken_removed++;
	clean_tmp(s, r, dry_run);
done:
	store_unlock(lock);
	for (size_t i = 0; i < n; i++)
		pf_store_entry_free(entries[i]);
	free(entries);
	pf_strv_free(broken, n_broken);
	free(objs);
	return rc;
}
