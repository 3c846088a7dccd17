/* File-system helpers; see fs.h. Small files only are read whole. */
#define _GNU_SOURCE
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"
#include "util/safefs.h"

int pf_fs_mkdir_p(const char *path)
{
	char *p = pf_xstrdup(path);
	int rc = 0;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			rc = pf_error_errno("cannot create folder \"%s\"", p);
			goto done;
		}
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		rc = pf_error_errno("cannot create folder \"%s\"", p);
	else if (!pf_fs_is_dir(p))
		rc = pf_error_set("\"%s\" exists and is not a folder", p);
done:
	free(p);
	return rc;
}

int pf_fs_read_file(pf_buf *out, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;
	char chunk[65536];
	size_t total = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return pf_error_code(PF_ENOTFOUND, "\"%s\" does not exist", path);
		return pf_error_errno("cannot open \"%s\"", path);
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = pf_error_errno("cannot read \"%s\"", path);
			goto done;
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > max) {
			rc = pf_error_code(PF_ELIMIT, "\"%s\" is larger than %zu bytes", path, max);
			goto done;
		}
		if ((rc = pf_buf_append(out, chunk, (size_t)n)) < 0)
			goto done;
	}
done:
	close(fd);
	return rc;
}

int pf_fs_write_atomic(const char *path, const void *data, size_t len)
{
	char *dir = pf_fs_dirname(path);
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;
	if (dfd < 0)
		rc = pf_error_errno("cannot write \"%s\": its folder cannot be opened", path);
	else
		rc = pf_safefs_write_atomic(dfd, name, data, len, path);
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return rc;
}

char *pf_fs_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	if (la == 0)
		return pf_xstrdup(b);
	if (b[0] == '/')
		b++;
	if (a[la - 1] == '/')
		return pf_xasprintf("%s%s", a, b);
	return pf_xasprintf("%s/%s", a, b);
}

bool pf_fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

bool pf_fs_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int pf_fs_size(uint64_t *out, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return pf_error_code(PF_ENOTFOUND, "\"%s\" does not exist", path);
		return pf_error_errno("cannot read \"%s\"", path);
	}
	if (!S_ISREG(st.st_mode))
		return pf_error_code(PF_EINVALID, "\"%s\" is not a regular file", path);
	*out = (uint64_t)st.st_size;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int pf_fs_remove_tree(const char *path)
{
	if (!pf_fs_exists(path))
		return 0;
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return pf_error_errno("cannot remove \"%s\"", path);
	return 0;
}

char *pf_fs_absolute(const char *path)
{
	char cwd[PATH_MAX];
	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return pf_xstrdup(path);
	return pf_fs_join(cwd, path);
}

/* true when `rel` under `dir`, or any folder on the way to it, is a symbolic link */
bool pf_fs_through_link(const char *dir, const char *rel)
{
	char *abs = pf_fs_join(dir, rel);
	size_t base = strlen(abs) - strlen(rel);
	bool link = false;
	struct stat st;
	for (size_t i = base; abs[i] && !link; i++) {
		if (abs[i] != '/' || i == base)
			continue;
		abs[i] = '\0';
		link = lstat(abs, &st) == 0 && S_ISLNK(st.st_mode);
		abs[i] = '/';
	}
	if (!link)
		link = lstat(abs, &st) == 0 && S_ISLNK(st.st_mode);
	free(abs);
	return link;
}

char *pf_fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return pf_xstrdup(".");
	if (slash == path)
		return pf_xstrdup("/");
	return pf_xstrndup(path, (size_t)(slash - path));
}
