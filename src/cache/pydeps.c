/*
 * Import closure of a module inside one Python package (pydeps.h), for the
 * fingerprint of a step run as `python -m pkg.module`: changing a file of
 * the package re-runs only the steps whose module can import it.
 *
 * A line scanner, not a Python parser: it reads `import` and `from ...
 * import` statements anywhere in a file (also indented, also with a
 * parenthesised name list over several lines) and keeps the ones that name
 * a module of the same top-level package. It errs on the side of more: a
 * name imported from a package (`from . import x`) counts when a module x
 * exists, whether or not x is a module or a name. Strings that look like
 * imports count too; that only costs a needless re-run.
 *
 * Workload: a package of tens of files, each read once per run.
 */
#define _GNU_SOURCE
#include "cache/pydeps.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/mem.h"

#define SOURCE_MAX_BYTES (4u * 1024u * 1024u)
#define MODULES_MAX 4096u
#define NAME_MAX_LEN 512u

typedef struct closure {
	const char *root;
	const char *top;     /* top-level package name */
	char **files;        /* relative paths, in discovery order */
	size_t n_files;
	char **queue;        /* dotted module names still to read */
	size_t n_queue;
} closure;

static bool have(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static void add_file(closure *c, const char *rel)
{
	if (c->n_files < MODULES_MAX && !have(c->files, c->n_files, rel)) {
		c->files = pf_xreallocarray(c->files, c->n_files + 1, sizeof(char *));
		c->files[c->n_files++] = pf_xstrdup(rel);
	}
}

static bool is_file(const char *root, const char *rel)
{
	char *p = pf_fs_join(root, rel);
	struct stat st;
	bool ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
	free(p);
	return ok;
}

/* "pkg.a.b" -> "pkg/a/b" (heap). */
static char *dotted_to_path(const char *dotted)
{
	char *p = pf_xstrdup(dotted);
	for (char *s = p; *s; s++)
		if (*s == '.')
			*s = '/';
	return p;
}

/* Queue one module (dotted name, source file relative to root) once. */
static void queue_module(closure *c, const char *dotted, const char *rel)
{
	if (have(c->queue, c->n_queue, dotted) || c->n_queue >= MODULES_MAX)
		return;
	add_file(c, rel);
	c->queue = pf_xreallocarray(c->queue, c->n_queue + 1, sizeof(char *));
	c->queue[c->n_queue++] = pf_xstrdup(dotted);
}

/*
 * Queue module `dotted` when it belongs to the package and has a source
 * file, after every package on its way (importing a.b.c runs a/__init__.py
 * and a/b/__init__.py first, and their own imports count too).
 */
static void want_module(closure *c, const char *dotted)
{
	size_t tl = strlen(c->top), len = strlen(dotted);
	if (strncmp(dotted, c->top, tl) || (dotted[tl] && dotted[tl] != '.') || len > NAME_MAX_LEN)
		return;
	for (size_t end = tl; end <= len; end++) {
		char *prefix, *path, *rel;
		if (end < len && dotted[end] != '.')
			continue;
		prefix = pf_xstrndup(dotted, end);
		path = dotted_to_path(prefix);
		rel = pf_xasprintf("%s.py", path);
		if (end < len || !is_file(c->root, rel)) {
			free(rel);
			rel = pf_xasprintf("%s/__init__.py", path);
		}
		if (is_file(c->root, rel))
			queue_module(c, prefix, rel);
		free(rel);
		free(path);
		free(prefix);
	}
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* A dotted name (with leading dots for relative imports) at s; heap copy, or NULL. */
static char *read_name(const char **s, bool allow_dots)
{
	const char *p = *s, *start = p;
	while (allow_dots && *p == '.')
		p++;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
		p++;
	if (p == start || (size_t)(p - start) > NAME_MAX_LEN)
		return NULL;
	*s = p;
	return pf_xstrndup(start, (size_t)(p - start));
}

/* Absolute module for a `from X` clause seen in module `self` (whose package is self itself when is_pkg). */
static char *resolve(const char *self, bool is_pkg, const char *from)
{
	size_t level = 0;
	char *base;
	while (from[level] == '.')
		level++;
	if (!level)
		return pf_xstrdup(from);
	base = pf_xstrdup(self);
	for (size_t i = is_pkg ? 1 : 0; i < level; i++) {
		char *dot = strrchr(base, '.');
		if (!dot) {
			free(base);
			return NULL;
		}
		*dot = '\0';
	}
	if (from[level]) {
		char *full = pf_xasprintf("%s.%s", base, from + level);
		free(base);
		return full;
	}
	return base;
}

/* The names after `import` up to the end of the statement (a parenthesised list may span lines). */
static void each_imported_name(closure *c, const char *s, const char *prefix)
{
	bool paren = false;
	s = skip_ws(s);
	if (*s == '(') {
		paren = true;
		s++;
	}
	for (;;) {
		char *name;
		for (;;) {
			while (*s == ' ' || *s == '\t' || *s == ',' ||
			       (paren && (*s == '\n' || *s == '\r' || *s == '\\')))
				s++;
			if (!paren || *s != '#')
				break;
			while (*s && *s != '\n') /* a comment inside the list */
				s++;
		}
		if (!*s || *s == ')' || *s == '\n' || *s == '#' || *s == ';')
			break;
		if (!(name = read_name(&s, false)))
			break;
		if (prefix) {
			char *full = pf_xasprintf("%s.%s", prefix, name);
			want_module(c, full);
			free(full);
		} else {
			want_module(c, name);
		}
		free(name);
		s = skip_ws(s);
		if (!strncmp(s, "as", 2) && (s[2] == ' ' || s[2] == '\t')) {
			s = skip_ws(s + 2);
			free(read_name(&s, false));
		}
	}
}

static void scan_source(closure *c, const char *text, const char *self, bool is_pkg)
{
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *s = skip_ws(line);
		if (!strncmp(s, "import", 6) && (s[6] == ' ' || s[6] == '\t')) {
			each_imported_name(c, s + 6, NULL);
		} else if (!strncmp(s, "from", 4) && (s[4] == ' ' || s[4] == '\t')) {
			const char *p = skip_ws(s + 4);
			char *from = read_name(&p, true), *abs;
			p = skip_ws(p);
			if (from && !strncmp(p, "import", 6) && (abs = resolve(self, is_pkg, from))) {
				want_module(c, abs);
				each_imported_name(c, p + 6, abs); /* `from pkg import mod` */
				free(abs);
			}
			free(from);
		}
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pf_pydeps_closure(char ***out, size_t *n_out, const char *root, const char *module)
{
	closure c;
	char *top = pf_xstrdup(module), *dot = strchr(top, '.');
	int rc = 0;
	if (dot)
		*dot = '\0';
	memset(&c, 0, sizeof(c));
	c.root = root;
	c.top = top;
	want_module(&c, module);
	if (!have(c.queue, c.n_queue, module)) {
		rc = pf_error_code(PF_ENOTFOUND, "module \"%s\" has no source file under \"%s\"", module, root);
		goto done;
	}
	for (size_t q = 0; q < c.n_queue; q++) {
		/* a copy: scanning may grow (move) the queue */
		char *self = pf_xstrdup(c.queue[q]);
		char *path = dotted_to_path(self), *rel = pf_xasprintf("%s.py", path), *full;
		bool is_pkg = false;
		pf_buf b;
		if (!is_file(root, rel)) {
			free(rel);
			rel = pf_xasprintf("%s/__init__.py", path);
			is_pkg = true;
		}
		full = pf_fs_join(root, rel);
		pf_buf_init(&b, SOURCE_MAX_BYTES);
		if (pf_fs_read_file(&b, full, SOURCE_MAX_BYTES) == 0)
			scan_source(&c, pf_buf_cstr(&b), self, is_pkg);
		/* An unreadable or huge file is still in the list: its hash will say it changed. */
		pf_buf_dispose(&b);
		free(full);
		free(rel);
		free(path);
		free(self);
	}
	qsort(c.files, c.n_files, sizeof(char *), cmp_str);
	*out = c.files;
	*n_out = c.n_files;
	c.files = NULL;
done:
	pf_strv_free(c.files, c.n_files);
	pf_strv_free(c.queue, c.n_queue);
	free(top);
	return rc;
}

static void walk_py(char ***files, size_t *n, const char *root, const char *rel)
{
	char *dir = pf_fs_join(root, rel);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && *n < MODULES_MAX) {
		char *child;
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "__pycache__"))
			continue;
		child = pf_xasprintf("%s/%s", rel, e->d_name);
		if (len > 3 && !strcmp(e->d_name + len - 3, ".py") && is_file(root, child)) {
			*files = pf_xreallocarray(*files, *n + 1, sizeof(char *));
			(*files)[(*n)++] = child;
			continue;
		}
		{
			char *full = pf_fs_join(root, child);
			struct stat st;
			if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
				walk_py(files, n, root, child);
			free(full);
		}
		free(child);
	}
	if (d)
		closedir(d);
	free(dir);
}

int pf_pydeps_package(char ***out, size_t *n_out, const char *root, const char *package)
{
	char **files = NULL;
	size_t n = 0;
	walk_py(&files, &n, root, package);
	if (!n) {
		free(files);
		return pf_error_code(PF_ENOTFOUND, "package \"%s\" has no .py file under \"%s\"", package, root);
	}
	qsort(files, n, sizeof(char *), cmp_str);
	*out = files;
	*n_out = n;
	return 0;
}
