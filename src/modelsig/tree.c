/*
 * The files of a model folder, for signing (which entries are not
 * artifacts) and verification (which files to re-hash). The walk goes
 * through descriptors (openat, O_NOFOLLOW) and lists links and special files
 * without following or opening them; it is bounded in depth and entries, as
 * the folder may be anyone's. Workload: a release folder, tens of entries.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modelsig/internal.h"
#include "modelsig/modelsig.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

typedef struct walk {
	ms_entry *entries;
	size_t n, cap;
	ms_descend_fn descend;
	void *ctx;
	const char *root;
} walk;

void ms_entries_free(ms_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		free(e[i].name);
	free(e);
}

static int add(walk *w, char *name, ms_kind kind)
{
	if (w->n >= PF_MODELSIG_MAX_ITEMS) {
		free(name);
		return pf_error_code(PF_ELIMIT, "\"%s\" holds more than %u entries: too many for a model folder",
		                     w->root, PF_MODELSIG_MAX_ITEMS);
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 32;
		w->entries = pf_xreallocarray(w->entries, w->cap, sizeof(*w->entries));
	}
	w->entries[w->n].name = name;
	w->entries[w->n].kind = kind;
	w->n++;
	return 0;
}

static int walk_dir(walk *w, int fd, const char *prefix, int depth)
{
	DIR *d = NULL;
	struct dirent *de;
	int rc = 0;
	if (depth > PF_MODELSIG_MAX_DEPTH) {
		close(fd);
		return pf_error_code(PF_ELIMIT, "\"%s\" is nested deeper than %d folders", w->root,
		                     PF_MODELSIG_MAX_DEPTH);
	}
	if (!(d = fdopendir(fd))) {
		rc = pf_error_errno("cannot list \"%s/%s\"", w->root, prefix);
		close(fd);
		return rc;
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;
		char *name;
		ms_kind kind;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		name = *prefix ? pf_xasprintf("%s/%s", prefix, de->d_name) : pf_xstrdup(de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = pf_error_errno("cannot read \"%s/%s\"", w->root, name);
			free(name);
			break;
		}
		kind = S_ISREG(st.st_mode)   ? MS_FILE
		       : S_ISDIR(st.st_mode) ? MS_DIR
		       : S_ISLNK(st.st_mode) ? MS_LINK
		                             : MS_OTHER;
		if ((rc = add(w, name, kind)) < 0)
			break;
		if (kind == MS_DIR && w->descend(name, w->ctx)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				rc = pf_error_errno("cannot open \"%s/%s\"", w->root, name);
				break;
			}
			/* the name string is owned by the list; growing the list moves the array, not the string */
			rc = walk_dir(w, sub, w->entries[w->n - 1].name, depth + 1);
		}
	}
	if (rc == 0 && errno != 0)
		rc = pf_error_errno("cannot list \"%s/%s\"", w->root, prefix);
	closedir(d);
	return rc;
}

int ms_walk(ms_entry **out, size_t *n, const char *dir, ms_descend_fn descend, void *ctx)
{
	walk w = {.descend = descend, .ctx = ctx, .root = dir};
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;
	*out = NULL;
	*n = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return pf_error_code(PF_ENOTFOUND, "the model folder \"%s\" does not exist", dir);
		if (errno == ENOTDIR)
			return pf_error_code(PF_EINVALID, "\"%s\" is not a folder: give the model's folder", dir);
		return pf_error_errno("cannot open the model folder \"%s\"", dir);
	}
	rc = walk_dir(&w, fd, "", 0);
	if (rc < 0) {
		ms_entries_free(w.entries, w.n);
		return rc;
	}
	*out = w.entries;
	*n = w.n;
	return 0;
}

char *ms_clean_path(const char *p)
{
	pf_buf b;
	if (!p || p[0] == '/')
		return NULL;
	pf_buf_init(&b, strlen(p) + 1);
	for (const char *s = p; *s;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			pf_buf_dispose(&b);
			return NULL;
		}
		if (len && !(len == 1 && s[0] == '.')) {
			if (b.len)
				(void)pf_buf_append(&b, "/", 1);
			(void)pf_buf_append(&b, s, len);
		}
		s += len;
		while (*s == '/')
			s++;
	}
	if (!b.data)
		return pf_xstrdup("");
	return pf_buf_detach(&b);
}
