/*
 * The on-disk cache shared with huggingface_hub: refs/<rev> files, relative
 * snapshot symlinks into blobs/, and the offline view of a snapshot. Every
 * path built here comes from names already checked by pf_hub_path_check.
 * A few file-system calls per file.
 */
#define _XOPEN_SOURCE 700
#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub_internal.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

static int mkdir_parent(const char *file)
{
	char *dir = pf_xstrdup(file);
	char *slash = strrchr(dir, '/');
	int rc = 0;
	if (slash && slash != dir) {
		*slash = '\0';
		rc = pf_fs_mkdir_p(dir);
	}
	free(dir);
	return rc;
}

int pf_hub_ref_write(const char *repo_dir, const char *rev, const char *commit)
{
	char *path = NULL;
	pf_buf old;
	int rc = 0;
	pf_buf_init(&old, 256);
	if (!strcmp(rev, commit))
		goto done;
	if ((rc = pf_hub_path_check(rev, strlen(rev))) < 0) {
		rc = pf_error_code(PF_EINVALID, "revision \"%s\" cannot name a file in the cache", rev);
		goto done;
	}
	path = pf_xasprintf("%s/refs/%s", repo_dir, rev);
	if (pf_fs_read_file(&old, path, 256) == 0 && !strcmp(pf_buf_cstr(&old), commit))
		goto done;
	pf_error_clear();
	if ((rc = mkdir_parent(path)) < 0 || (rc = pf_fs_write_atomic(path, commit, strlen(commit))) < 0)
		goto done;
done:
	pf_buf_dispose(&old);
	free(path);
	return rc;
}

char *pf_hub_ref_read(const char *repo_dir, const char *rev)
{
	char *path;
	pf_buf b;
	char *out = NULL;
	if (pf_hub_is_commit(rev))
		return pf_xstrdup(rev);
	if (pf_hub_path_check(rev, strlen(rev)) < 0)
		return NULL;
	path = pf_xasprintf("%s/refs/%s", repo_dir, rev);
	pf_buf_init(&b, 256);
	if (pf_fs_read_file(&b, path, 128) == 0) {
		const char *s = pf_buf_cstr(&b);
		size_t n = b.len;
		while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
			n--;
		out = pf_xstrndup(s, n);
		if (!pf_hub_is_commit(out)) {
			free(out);
			out = NULL;
			pf_error_code(PF_EINVALID, "\"%s\" does not hold a commit id", path);
		}
	}
	pf_buf_dispose(&b);
	free(path);
	return out;
}

char *pf_hub_link_target(const char *path, const char *etag)
{
	pf_buf b;
	pf_buf_init(&b, 64 * 1024);
	/* from snapshots/<commit>/<dirs...>: one "../" per level up to the repo folder */
	pf_buf_puts(&b, "../../");
	for (const char *p = path; *p; p++)
		if (*p == '/')
			pf_buf_puts(&b, "../");
	pf_buf_printf(&b, "blobs/%s", etag);
	return pf_buf_detach(&b);
}

int pf_hub_snapshot_link(const char *repo_dir, const char *commit, const char *path, const char *etag)
{
	char *link = pf_xasprintf("%s/snapshots/%s/%s", repo_dir, commit, path);
	char *target = pf_hub_link_target(path, etag);
	char *tmp = NULL;
	int rc;
	if ((rc = mkdir_parent(link)) < 0)
		goto done;
	/* create beside, then rename over: a reader never sees a missing or stale entry */
	tmp = pf_xasprintf("%s.pteflow-link.%ld", link, (long)getpid());
	unlink(tmp);
	if (symlink(target, tmp) != 0) {
		rc = pf_error_errno("cannot create the link \"%s\"", link);
		goto done;
	}
	if (rename(tmp, link) != 0) {
		rc = pf_error_errno("cannot place the link \"%s\"", link);
		unlink(tmp);
		goto done;
	}
done:
	free(tmp);
	free(target);
	free(link);
	return rc;
}

bool pf_hub_file_ok(const char *file)
{
	struct stat st;
	return stat(file, &st) == 0 && S_ISREG(st.st_mode);
}

int pf_hub_cached_sha256(char hex[65], uint64_t *size, const char *file)
{
	char target[4096];
	ssize_t n = readlink(file, target, sizeof(target) - 1);
	if (n > 0) {
		const char *base;
		target[n] = '\0';
		base = strrchr(target, '/');
		base = base ? base + 1 : target;
		if (pf_hub_is_sha256(base)) {
			memcpy(hex, base, 65);
			return pf_fs_size(size, file);
		}
	}
	return pf_sha256_file(hex, size, file);
}

bool pf_hub_wanted(const pf_hub_options *opts, const char *path)
{
	bool keep = opts->n_include == 0;
	for (size_t i = 0; i < opts->n_include && !keep; i++)
		keep = pf_hub_pattern_match(opts->include[i], path);
	for (size_t i = 0; i < opts->n_exclude && keep; i++)
		if (pf_hub_pattern_match(opts->exclude[i], path))
			keep = false;
	return keep;
}

/* nftw has no user pointer: the walk state lives here for the one walk in flight */
static struct {
	pf_model_record *rec;
	const pf_hub_options *opts;
	size_t root_len;
	pf_buf missing;
	int rc;
} walk;

static int visit(const char *fpath, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *rel = fpath + walk.root_len + 1;
	pf_model_file *f;
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DP || strlen(fpath) <= walk.root_len)
		return 0;
	if (!pf_hub_wanted(walk.opts, rel))
		return 0;
	if (!S_ISLNK(st->st_mode) && !S_ISREG(st->st_mode))
		return 0;
	if (!pf_hub_file_ok(fpath)) {
		pf_buf_printf(&walk.missing, "%s\"%s\"", walk.missing.len ? ", " : "", rel);
		return 0;
	}
	walk.rec->files = pf_xreallocarray(walk.rec->files, walk.rec->n_files + 1, sizeof(*walk.rec->files));
	f = &walk.rec->files[walk.rec->n_files++];
	memset(f, 0, sizeof(*f));
	f->path = pf_xstrdup(rel);
	f->from_cache = true;
	if ((walk.rc = pf_hub_cached_sha256(f->sha256, &f->size_bytes, fpath)) < 0)
		return 1;
	{
		char target[4096];
		ssize_t n = readlink(fpath, target, sizeof(target) - 1);
		if (n > 0) {
			const char *base;
			target[n] = '\0';
			base = strrchr(target, '/');
			f->etag = pf_xstrdup(base ? base + 1 : target);
			f->lfs = pf_hub_is_sha256(f->etag);
		}
	}
	return 0;
}

int pf_hub_tree_cache_write(const char *repo_dir, const pf_hub_listing *l)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *files = cJSON_CreateObject();
	char *text = NULL, *path = pf_xasprintf("%s/trees/%s.json", repo_dir, l->commit);
	int rc = 0;
	cJSON_AddNumberToObject(root, "format_version", 1);
	cJSON_AddItemToObject(root, "files", files);
	for (size_t i = 0; i < l->n_entries; i++) {
		const pf_hub_entry *e = &l->entries[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "size", (double)e->size_bytes);
		cJSON_AddStringToObject(o, "blob_id", e->oid ? e->oid : "");
		if (e->lfs_sha256) {
			cJSON_AddStringToObject(o, "lfs_sha256", e->lfs_sha256);
			cJSON_AddNumberToObject(o, "lfs_size", (double)e->size_bytes);
		}
		cJSON_AddItemToObject(files, e->path, o);
	}
	text = cJSON_Print(root);
	if ((rc = mkdir_parent(path)) == 0)
		rc = pf_fs_write_atomic(path, text, strlen(text));
	cJSON_free(text);
	cJSON_Delete(root);
	free(path);
	return rc;
}

int pf_hub_tree_cache_read(pf_hub_listing *l, const char *repo_dir, const char *commit)
{
	char *path = pf_xasprintf("%s/trees/%s.json", repo_dir, commit);
	pf_buf b;
	cJSON *root = NULL;
	const cJSON *files, *it, *ver;
	int rc = 0;
	pf_buf_init(&b, PF_HUB_JSON_MAX);
	if (pf_fs_read_file(&b, path, PF_HUB_JSON_MAX) < 0) {
		rc = PF_ENOTFOUND;
		goto done;
	}
	root = cJSON_ParseWithLength(pf_buf_cstr(&b), b.len);
	ver = cJSON_GetObjectItemCaseSensitive(root, "format_version");
	files = cJSON_GetObjectItemCaseSensitive(root, "files");
	if (!cJSON_IsNumber(ver) || ver->valuedouble != 1 || !cJSON_IsObject(files)) {
		rc = PF_ENOTFOUND;
		goto done;
	}
	cJSON_ArrayForEach(it, files)
	{
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(it, "size");
		const cJSON *blob = cJSON_GetObjectItemCaseSensitive(it, "blob_id");
		const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(it, "lfs_sha256");
		pf_hub_entry *e;
		if (!it->string || !cJSON_IsNumber(size) || size->valuedouble < 0 || !cJSON_IsString(blob) ||
		    l->n_entries >= PF_HUB_MAX_FILES || pf_hub_path_check(it->string, strlen(it->string)) < 0) {
			rc = PF_ENOTFOUND;
			goto done;
		}
		l->entries = pf_xreallocarray(l->entries, l->n_entries + 1, sizeof(*l->entries));
		e = &l->entries[l->n_entries++];
		memset(e, 0, sizeof(*e));
		e->path = pf_xstrdup(it->string);
		e->size_bytes = (uint64_t)size->valuedouble;
		e->oid = pf_hub_is_commit(blob->valuestring) ? pf_xstrdup(blob->valuestring) : NULL;
		e->lfs_sha256 =
		    (cJSON_IsString(lfs) && strlen(lfs->valuestring) == 64) ? pf_xstrdup(lfs->valuestring) : NULL;
	}
	free(l->commit);
	l->commit = pf_xstrdup(commit);
done:
	pf_error_clear();
	cJSON_Delete(root);
	pf_buf_dispose(&b);
	free(path);
	return rc;
}

/* Offline with a cached tree listing: every wanted file of the commit must be in the snapshot. */
static int collect_from_tree(pf_model_record *rec, const pf_hub_listing *l, const char *snap,
                             const pf_hub_options *opts, pf_buf *missing)
{
	int rc;
	for (size_t i = 0; i < l->n_entries; i++) {
		const pf_hub_entry *e = &l->entries[i];
		char *file;
		pf_model_file *f;
		if (!pf_hub_wanted(opts, e->path))
			continue;
		file = pf_fs_join(snap, e->path);
		if (!pf_hub_file_ok(file)) {
			pf_buf_printf(missing, "%s\"%s\"", missing->len ? ", " : "", e->path);
			free(file);
			continue;
		}
		rec->files = pf_xreallocarray(rec->files, rec->n_files + 1, sizeof(*rec->files));
		f = &rec->files[rec->n_files++];
		memset(f, 0, sizeof(*f));
		f->path = pf_xstrdup(e->path);
		f->from_cache = true;
		f->lfs = e->lfs_sha256 != NULL;
		f->etag = pf_xstrdup(e->lfs_sha256 ? e->lfs_sha256 : (e->oid ? e->oid : ""));
		rc = pf_hub_cached_sha256(f->sha256, &f->size_bytes, file);
		free(file);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool has_wildcard(const char *p)
{
	return strpbrk(p, "*?[") != NULL || p[0] == '\0' || p[strlen(p) - 1] == '/';
}

int pf_hub_offline_collect(pf_model_record *rec, const char *repo_dir, const char *commit, const pf_hub_options *opts)
{
	char *snap = pf_xasprintf("%s/snapshots/%s", repo_dir, commit);
	pf_hub_listing tree = {0};
	int rc = 0;
	pf_buf_init(&walk.missing, 4096);
	if (!pf_fs_is_dir(snap)) {
		rc = pf_error_code(
		    PF_ENOTFOUND,
		    "offline: \"%s\" has no cached snapshot for commit %s: run without --offline/HF_HUB_OFFLINE once",
		    opts->repo_id, commit);
		goto done;
	}
	if (pf_hub_tree_cache_read(&tree, repo_dir, commit) == 0) {
		if ((rc = collect_from_tree(rec, &tree, snap, opts, &walk.missing)) < 0)
			goto done;
	} else {
		walk.rec = rec;
		walk.opts = opts;
		walk.root_len = strlen(snap);
		walk.rc = 0;
		if (nftw(snap, visit, 32, FTW_PHYS) != 0 && walk.rc == 0)
			walk.rc = pf_error_errno("cannot read the snapshot \"%s\"", snap);
		if ((rc = walk.rc) < 0)
			goto done;
	}
	for (size_t i = 0; i < opts->n_include; i++) {
		char *p;
		if (has_wildcard(opts->include[i]))
			continue;
		p = pf_fs_join(snap, opts->include[i]);
		if (!pf_hub_file_ok(p))
			pf_buf_printf(&walk.missing, "%s\"%s\"", walk.missing.len ? ", " : "", opts->include[i]);
		free(p);
	}
	if (walk.missing.len) {
		rc = pf_error_code(PF_ENOTFOUND, "offline: missing from the cached snapshot of \"%s\": %s",
		                   opts->repo_id, pf_buf_cstr(&walk.missing));
		goto done;
	}
	if (rec->n_files == 0)
		rc = pf_error_code(PF_ENOTFOUND, "offline: the cached snapshot of \"%s\" holds no file that matches",
		                   opts->repo_id);
	rec->snapshot_dir = snap;
	snap = NULL;
done:
	pf_hub_listing_dispose(&tree);
	pf_buf_dispose(&walk.missing);
	free(snap);
	return rc;
}
