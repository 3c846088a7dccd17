/*
 * The store's objects (store.h): copying a step's files in, and restoring an
 * entry's files into an output folder. Workload: files of up to a few GiB,
 * streamed; memory stays flat whatever the size.
 *
 * A restore reads each object once: its size is compared with the record
 * before a byte is read, then the bytes are hashed as they are copied into a
 * new temporary file beside the destination, and the file is renamed into
 * place only when every file of the entry matched. Where the filesystem can
 * clone (FICLONE), the clone is hashed instead: its extents are the
 * destination's own from then on, so what was hashed is what was restored.
 * Objects are opened through the store's folder descriptors with O_NOFOLLOW
 * and O_NONBLOCK (a planted link or FIFO is refused, never followed or
 * waited on); the output folder is walked the same way, so a link an earlier
 * step left there cannot carry a restore outside it.
 */
#define _GNU_SOURCE
#include "cache/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/safefs.h"
#include "verify/hash.h"

#define COPY_CHUNK (256u * 1024u)
/* A result file holding a secret is redacted before it is stored: read whole, so bounded. */
#define RESULT_MAX_BYTES (16u * 1024u * 1024u)

int pf_store_object_dir(pf_store *s, const char *sha, bool create)
{
	char sub[3] = {sha[0], sha[1], '\0'};
	int fd;
	if (create && mkdirat(s->fd[PF_STORE_OBJECTS], sub, 0755) < 0 && errno != EEXIST)
		return pf_error_errno("the store folder \"objects/%s\" cannot be created", sub);
	fd = openat(s->fd[PF_STORE_OBJECTS], sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return pf_error_code(PF_ENOTFOUND, "the store folder \"objects/%s\" does not exist", sub);
	if (errno == ENOTDIR || errno == ELOOP)
		return pf_error_code(PF_EINVALID, "the store folder \"objects/%s\" is a symbolic link or not a folder: it "
						  "was not followed", sub);
	return pf_error_errno("the store folder \"objects/%s\" cannot be opened", sub);
}

static int write_all(int fd, const char *buf, size_t n, const char *what)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return pf_error_errno("\"%s\" cannot be copied", what);
		off += (size_t)w;
	}
	return 0;
}

/*
 * Copy at most max bytes of src_fd to dst_fd (dst_fd < 0: none) and hash
 * exactly the bytes written. *size receives what was read; reading stops one
 * byte past max, so a file larger than its record is found without reading it
 * all.
 */
static int copy_hashed(int dst_fd, int src_fd, uint64_t max, char hex[65], uint64_t *size, const char *what)
{
	char *buf = pf_xmalloc(COPY_CHUNK);
	pf_sha256 *h = pf_sha256_new();
	uint64_t total = 0;
	int rc = 0;
	while (total <= max) {
		uint64_t left = max - total + 1;
		ssize_t n = read(src_fd, buf, left < COPY_CHUNK ? (size_t)left : COPY_CHUNK);
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
		if (dst_fd >= 0 && (rc = write_all(dst_fd, buf, (size_t)n, what)) < 0)
			break;
	}
	pf_sha256_final_hex(h, hex);
	*size = total;
	free(buf);
	return rc;
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

/* The result file, redacted when it holds a registered secret; *redacted false when it holds none. */
static int copy_redacted(int dst_fd, int src_fd, pf_store_file *f, bool *redacted)
{
	char *text = NULL, *clean = NULL;
	size_t len = 0, clean_len = 0;
	int rc = pf_safefs_read_all(&text, &len, src_fd, RESULT_MAX_BYTES, f->path);
	*redacted = false;
	if (rc < 0 || !pf_secret_contains(text, len))
		goto done;
	clean = pf_secret_redact_n(text, len, &clean_len);
	if ((rc = write_all(dst_fd, clean, clean_len, f->path)) < 0)
		goto done;
	pf_sha256_bytes(f->sha256, clean, clean_len);
	f->size_bytes = clean_len;
	*redacted = true;
done:
	free(text);
	free(clean);
	return rc;
}

/* The object f->sha256 exists already (a regular file of the right size): nothing to copy. */
bool pf_store_object_there(pf_store *s, const pf_store_file *f)
{
	struct stat st;
	int dfd = pf_store_object_dir(s, f->sha256, false);
	bool there = dfd >= 0 && fstatat(dfd, f->sha256, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		     (uint64_t)st.st_size == f->size_bytes;
	if (dfd >= 0)
		close(dfd);
	return there;
}

/* Move tmp/<tmp> to objects/<xx>/<sha> (read-only); the same bytes stored meanwhile are fine. */
int pf_store_object_commit(pf_store *s, int fd, const char *tmp, const pf_store_file *f, uint64_t *copied)
{
	int dfd = pf_store_object_dir(s, f->sha256, true), rc = 0;
	if (dfd < 0)
		return dfd;
	if (fchmod(fd, 0444) < 0 || renameat(s->fd[PF_STORE_TMP], tmp, dfd, f->sha256) < 0)
		rc = pf_error_errno("\"%s\" cannot be stored", f->path);
	else if (copied)
		*copied += f->size_bytes;
	close(dfd);
	return rc;
}

int pf_store_object_put(pf_store *s, pf_store_file *f, int out_fd, bool redact, uint64_t *copied)
{
	char tmp[PF_SAFEFS_TEMP_NAME];
	int in = -1, fd = -1, rc = 0;
	bool redacted = false;
	struct stat st;
	tmp[0] = '\0';
	if ((in = pf_safefs_open_read(out_fd, f->path, NULL, f->path)) < 0 || fstat(in, &st) < 0) {
		rc = in < 0 ? in : pf_error_errno("\"%s\" cannot be read", f->path);
		goto done;
	}
	if (f->sha256[0]) {
		if ((uint64_t)st.st_size != f->size_bytes || ctime_of(&st) != f->ctime_ns) {
			rc = pf_error_code(PF_EINVALID, "\"%s\" changed after the step that wrote it ended", f->path);
			goto done;
		}
		if (pf_store_object_there(s, f))
			goto done; /* the same bytes are stored already */
	}
	if ((fd = pf_safefs_temp(tmp, s->fd[PF_STORE_TMP], "object")) < 0) {
		rc = fd;
		tmp[0] = '\0';
		goto done;
	}
	if (f->sha256[0]) {
		struct stat after;
		if ((rc = copy_plain(fd, in, f->size_bytes, f->path)) < 0)
			goto done;
		if (fstat(in, &after) < 0 || ctime_of(&after) != f->ctime_ns || after.st_size != st.st_size) {
			rc = pf_error_code(PF_EINVALID, "\"%s\" changed while it was being stored", f->path);
			goto done;
		}
	} else {
		if (redact && (uint64_t)st.st_size <= RESULT_MAX_BYTES &&
		    (rc = copy_redacted(fd, in, f, &redacted)) < 0)
			goto done;
		if (!redacted) {
			if (lseek(in, 0, SEEK_SET) < 0 || ftruncate(fd, 0) < 0) {
				rc = pf_error_errno("\"%s\" cannot be copied", f->path);
				goto done;
			}
			if ((rc = copy_hashed(fd, in, UINT64_MAX - 1, f->sha256, &f->size_bytes, f->path)) < 0)
				goto done;
		}
	}
	if (pf_store_object_there(s, f))
		goto done; /* the same bytes are stored already */
	if ((rc = pf_store_object_commit(s, fd, tmp, f, copied)) == 0)
		tmp[0] = '\0';
done:
	if (fd >= 0)
		close(fd);
	if (in >= 0)
		close(in);
	if (tmp[0])
		(void)unlinkat(s->fd[PF_STORE_TMP], tmp, 0);
	return rc;
}

/* ---- restoring ---- */

typedef struct staged {
	const pf_store_file *f;
	int dir_fd;                     /* the destination's folder, reached without a link */
	const char *base;               /* the destination's name in it */
	char tmp[PF_SAFEFS_TEMP_NAME];  /* verified copy beside it; "" when none */
} staged;

/* The folder of rel under out_fd, created, no link on the way (a link there is refused: PF_EENV). */
static int dest_dir(staged *st, int out_fd, const char *out_dir)
{
	const char *slash = strrchr(st->f->path, '/');
	char *parent;
	int fd;
	st->base = slash ? slash + 1 : st->f->path;
	if (!slash) {
		st->dir_fd = dup(out_fd);
		return st->dir_fd < 0 ? pf_error_errno("\"%s\" cannot be opened", out_dir) : 0;
	}
	parent = pf_xstrndup(st->f->path, (size_t)(slash - st->f->path));
	fd = pf_safefs_mkdirs(out_fd, parent, st->f->path);
	free(parent);
	if (fd == PF_EINVALID)
		return pf_error_code(PF_EENV, "%s: a restore writes only inside \"%s\"", pf_error_last(), out_dir);
	if (fd < 0)
		return pf_error_code(PF_EENV, "%s", pf_error_last());
	st->dir_fd = fd;
	return 0;
}

/* Open the stored object of f, its size checked against the record first. PF_EINVALID when it is not right. */
static int object_open(pf_store *s, const pf_store_file *f, int *objdir)
{
	uint64_t size = 0;
	char shown[80];
	int in;
	(void)snprintf(shown, sizeof(shown), "objects/%.2s/%.64s", f->sha256, f->sha256);
	*objdir = pf_store_object_dir(s, f->sha256, false);
	if (*objdir < 0)
		return pf_error_code(PF_EINVALID, "stored file \"%s\" is missing from the store (%s)", f->path,
				     pf_error_last());
	in = pf_safefs_open_read(*objdir, f->sha256, &size, shown);
	if (in < 0)
		return pf_error_code(PF_EINVALID, "stored file \"%s\" is missing from the store (%s)", f->path,
				     pf_error_last());
	if (size != f->size_bytes) {
		close(in);
		(void)unlinkat(*objdir, f->sha256, 0); /* damaged: it must not serve another entry either */
		return pf_error_code(PF_EINVALID,
				     "stored file \"%s\" has %llu bytes, its record says %llu: the store entry is damaged "
				     "or was tampered with (it was not read)",
				     f->path, (unsigned long long)size, (unsigned long long)f->size_bytes);
	}
#ifdef POSIX_FADV_SEQUENTIAL
	(void)posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	return in;
}

/* Copy one object next to its destination, hashing the bytes copied. PF_EINVALID on a mismatch. */
static int stage_one(pf_store *s, staged *st, int out_fd, const char *out_dir)
{
	const pf_store_file *f = st->f;
	char hex[65];
	uint64_t size = 0;
	int in = -1, fd = -1, objdir = -1, rc;
	if ((rc = dest_dir(st, out_fd, out_dir)) < 0)
		goto done;
	if ((in = object_open(s, f, &objdir)) < 0) {
		rc = in;
		goto done;
	}
	if ((fd = pf_safefs_temp(st->tmp, st->dir_fd, st->base)) < 0) {
		rc = pf_error_code(PF_EENV, "%s", pf_error_last());
		st->tmp[0] = '\0';
		goto done;
	}
	if (ioctl(fd, FICLONE, in) == 0) {
		/* the clone's extents are its own now: hash what was restored */
		int back = pf_safefs_open_read(st->dir_fd, st->tmp, NULL, st->tmp);
		rc = back < 0 ? back : copy_hashed(-1, back, f->size_bytes, hex, &size, f->path);
		if (back >= 0)
			close(back);
	} else {
		rc = copy_hashed(fd, in, f->size_bytes, hex, &size, f->path);
	}
	if (rc < 0) {
		rc = pf_error_code(PF_EENV, "stored file \"%s\" cannot be restored: %s", f->path, pf_error_last());
		goto done;
	}
	if (strcmp(hex, f->sha256) || size != f->size_bytes) {
		rc = pf_error_code(PF_EINVALID,
				   "stored file \"%s\" does not match its SHA-256 (%llu bytes, sha256 %.16s..., expected "
				   "%llu bytes, %.16s...): the store entry is damaged or was tampered with",
				   f->path, (unsigned long long)size, hex, (unsigned long long)f->size_bytes, f->sha256);
		(void)unlinkat(objdir, f->sha256, 0); /* a damaged object must not serve another entry either */
		goto done;
	}
	if (fchmod(fd, 0644) < 0)
		rc = pf_error_errno("\"%s\" cannot be restored", f->path);
done:
	if (fd >= 0)
		close(fd);
	if (in >= 0)
		close(in);
	if (objdir >= 0)
		close(objdir);
	return rc;
}

/* The entry is still in the store (gc did not remove it between the look-up and the store lock). */
static bool entry_still_there(pf_store *s, const char *fingerprint)
{
	char name[70];
	struct stat st;
	pf_store_entry_name(name, fingerprint);
	return fstatat(s->fd[PF_STORE_ENTRIES], name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int restore_all(pf_store *s, staged *st, size_t used, const pf_store_entry *e, const char *out_dir)
{
	int out_fd, rc = pf_fs_mkdir_p(out_dir);
	if (rc < 0)
		return pf_error_code(PF_EENV, "%s", pf_error_last());
	out_fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (out_fd < 0)
		return pf_error_code(PF_EENV, "the output folder \"%s\" cannot be opened: %s", out_dir, strerror(errno));
	if (!entry_still_there(s, e->fingerprint))
		rc = pf_error_code(PF_ENOTFOUND, "the store entry was removed (store gc) after it was looked up");
	for (size_t i = 0; i < used && rc == 0; i++)
		rc = stage_one(s, &st[i], out_fd, out_dir);
	/* all verified: now put them in place (a link at a destination is replaced, never followed) */
	for (size_t i = 0; i < used && rc == 0; i++) {
		if (renameat(st[i].dir_fd, st[i].tmp, st[i].dir_fd, st[i].base) < 0)
			rc = pf_error_errno("\"%s\" cannot be restored", st[i].f->path);
		else
			st[i].tmp[0] = '\0';
	}
	close(out_fd);
	return rc;
}

int pf_store_restore(pf_store *s, const pf_store_entry *e, const char *out_dir)
{
	size_t n = e->n_outputs + 2, used = 0;
	staged *st = pf_xcalloc(n, sizeof(staged));
	char name[70];
	int rc, lock;
	for (size_t i = 0; i < n; i++)
		st[i].dir_fd = -1;
	for (size_t i = 0; i < e->n_outputs; i++)
		st[used++].f = &e->outputs[i];
	st[used++].f = &e->log;
	if (e->result.path)
		st[used++].f = &e->result;
	lock = pf_store_lock_store(s, false);
	if (lock < 0) {
		rc = lock;
		goto done;
	}
	rc = restore_all(s, st, used, e, out_dir);
	pf_store_entry_name(name, e->fingerprint);
	if (rc == PF_EINVALID) {
		(void)unlinkat(s->fd[PF_STORE_ENTRIES], name, 0);
	} else if (rc == 0) {
		(void)utimensat(s->fd[PF_STORE_ENTRIES], name, NULL, AT_SYMLINK_NOFOLLOW); /* used now: last to go in gc */
		pf_store_set_last(s, e);
	}
	close(lock);
done:
	for (size_t i = 0; i < used; i++) {
		if (st[i].tmp[0])
			(void)unlinkat(st[i].dir_fd, st[i].tmp, 0);
		if (st[i].dir_fd >= 0)
			close(st[i].dir_fd);
	}
	free(st);
	return rc;
}
