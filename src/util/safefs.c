/*
 * Symlink-proof, non-blocking file access under a folder descriptor
 * (safefs.h). Used by the store, whose files anyone with write access to the
 * store folder may replace, by restores into an output folder, and by the
 * atomic writes of util/fs. Workload: a few opens per stored file; the
 * openat2 probe is remembered after the first ENOSYS.
 */
#define _GNU_SOURCE
#include "util/safefs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"

static int openat2_state; /* 0 unknown, 1 works, -1 missing (ENOSYS/EINVAL on a plain call) */

static int open_walk(int dirfd, const char *rel, int flags, mode_t mode)
{
	char *copy = pf_xstrdup(rel), *part = copy, *slash;
	int cur = dirfd, fd = -1, saved = 0;
	while ((slash = strchr(part, '/'))) {
		int next;
		*slash = '\0';
		if (!*part || !strcmp(part, "..")) {
			saved = EXDEV;
			goto done;
		}
		next = openat(cur, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			saved = errno == ENOTDIR ? ELOOP : errno; /* O_NOFOLLOW|O_DIRECTORY on a link: ENOTDIR */
			goto done;
		}
		if (cur != dirfd)
			close(cur);
		cur = next;
		part = slash + 1;
	}
	if (!strcmp(part, "..")) {
		saved = EXDEV;
		goto done;
	}
	fd = openat(cur, *part ? part : ".", flags | O_NOFOLLOW, mode);
	saved = errno;
done:
	if (cur != dirfd)
		close(cur);
	free(copy);
	errno = saved;
	return fd;
}

int pf_safefs_openat(int dirfd, const char *rel, int flags, mode_t mode)
{
	if (rel[0] == '/') {
		errno = EXDEV;
		return -1;
	}
#ifdef SYS_openat2
	if (openat2_state >= 0) {
		struct open_how how;
		long fd;
		memset(&how, 0, sizeof(how));
		how.flags = (unsigned long long)(flags | O_CLOEXEC);
		how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
		fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
		if (fd >= 0) {
			openat2_state = 1;
			return (int)fd;
		}
		if (errno == ENOSYS || (errno == EINVAL && openat2_state == 0))
			openat2_state = -1; /* an older kernel or a filter: the walk below */
		else
			return -1;
	}
#endif
	return open_walk(dirfd, rel, flags | O_CLOEXEC, mode);
}

static int check_regular(int fd, uint64_t *size_bytes, const char *shown)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return pf_error_errno("\"%s\" cannot be read", shown);
	if (!S_ISREG(st.st_mode))
		return pf_error_code(PF_EINVALID, "\"%s\" is not a regular file (a FIFO, device or folder): it was not read",
				     shown);
	/* a regular file never blocks; clear O_NONBLOCK so reads behave as usual */
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (size_bytes)
		*size_bytes = (uint64_t)st.st_size;
	return 0;
}

static int open_error(const char *shown)
{
	if (errno == ENOENT)
		return pf_error_code(PF_ENOTFOUND, "\"%s\" does not exist", shown);
	if (errno == ELOOP || errno == EXDEV)
		return pf_error_code(PF_EINVALID, "\"%s\" is, or lies in a folder that is, a symbolic link: it was not "
						  "followed", shown);
	return pf_error_errno("\"%s\" cannot be opened", shown);
}

int pf_safefs_open_read(int dirfd, const char *rel, uint64_t *size_bytes, const char *shown)
{
	int fd = pf_safefs_openat(dirfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0), rc;
	if (fd < 0)
		return open_error(shown);
	if ((rc = check_regular(fd, size_bytes, shown)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int pf_safefs_mkdirs(int dirfd, const char *rel, const char *shown)
{
	char *copy = pf_xstrdup(rel), *part = copy, *slash;
	int cur = dup(dirfd), rc = 0;
	if (cur < 0) {
		rc = pf_error_errno("\"%s\" cannot be opened", shown);
		goto done;
	}
	for (bool last = false; !last && *part;) {
		int next;
		slash = strchr(part, '/');
		last = !slash;
		if (slash)
			*slash = '\0';
		if (!*part || !strcmp(part, ".") || !strcmp(part, "..")) {
			rc = pf_error_code(PF_EINVALID, "\"%s\" is not a plain relative path", shown);
			goto done;
		}
		if (mkdirat(cur, part, 0755) < 0 && errno != EEXIST) {
			rc = pf_error_errno("cannot create folder \"%s\"", shown);
			goto done;
		}
		next = openat(cur, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			rc = errno == ENOTDIR || errno == ELOOP
				     ? pf_error_code(PF_EINVALID, "\"%s\": \"%s\" on the way is a symbolic link or not a "
								  "folder: it was not followed", shown, part)
				     : pf_error_errno("\"%s\" cannot be opened", shown);
			goto done;
		}
		close(cur);
		cur = next;
		part = slash ? slash + 1 : part;
	}
done:
	free(copy);
	if (rc < 0) {
		if (cur >= 0)
			close(cur);
		return rc;
	}
	return cur;
}

int pf_safefs_temp(char *name, int dirfd, const char *stem)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		unsigned char rnd[12];
		char hex[25];
		int fd;
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return pf_error_errno("no random bytes for a temporary name");
		for (size_t i = 0; i < sizeof(rnd); i++)
			(void)snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
		(void)snprintf(name, PF_SAFEFS_TEMP_NAME, ".%.40s.pteflow-%s", stem, hex);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return pf_error_errno("a temporary file cannot be created for \"%s\"", stem);
	}
	return pf_error_set("a temporary file cannot be created for \"%s\": every name tried exists", stem);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pf_safefs_write_atomic(int dirfd, const char *name, const void *data, size_t len, const char *shown)
{
	char tmp[PF_SAFEFS_TEMP_NAME];
	int fd = pf_safefs_temp(tmp, dirfd, name), rc = 0;
	if (fd < 0)
		return fd;
	if (write_all(fd, data, len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		rc = pf_error_errno("cannot write \"%s\"", shown);
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = pf_error_errno("cannot write \"%s\"", shown);
		goto done;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		rc = pf_error_errno("cannot put \"%s\" in place", shown);
		goto done;
	}
	(void)fsync(dirfd);
done:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		(void)unlinkat(dirfd, tmp, 0);
	return rc;
}

int pf_safefs_read_all(char **out, size_t *len, int fd, size_t max, const char *shown)
{
	size_t cap = 4096, n = 0;
	char *buf = pf_xmalloc(cap + 1);
	for (;;) {
		ssize_t got;
		if (n == cap) {
			if (cap > max) {
				free(buf);
				return pf_error_code(PF_ELIMIT, "\"%s\" is larger than %zu bytes", shown, max);
			}
			cap *= 2;
			buf = pf_xrealloc(buf, cap + 1);
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int rc = pf_error_errno("cannot read \"%s\"", shown);
			free(buf);
			return rc;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > max) {
		free(buf);
		return pf_error_code(PF_ELIMIT, "\"%s\" is larger than %zu bytes", shown, max);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
