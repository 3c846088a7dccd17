/*
 * Step fingerprints for incremental runs (incremental.h).
 *
 * Components, in this order (explain names the first that differs):
 *   command   the expanded argv (or shell line), shell flag and cwd
 *   env       the step's environment as passed, by name (less the variables
 *             that only locate things: location_only())
 *   tools     the interpreter's version, its real path and environment (venv), and the versions of torch,
 *             executorch, torchao, transformers, safetensors and numpy (steps
 *             that run ${python} only)
 *   packages  python/requirements.txt (same steps)
 *   steps     the source files of the step's pteflow_steps module and what it
 *             imports from the package (the whole package for a step that
 *             names it another way)
 *   model     the model's commit and each file's blob name in the Hub cache
 *             (a content hash already: nothing is hashed again), for steps
 *             whose command, env, cwd or inputs reference ${model.*}
 *   inputs    each file matched by the step's `inputs:`, by content
 *   upstream  every file the earlier steps of the run wrote into the output
 *             folder, by content
 * Absolute folders of this run (output, work, pipeline, package, model) and
 * the interpreter's path are written as ${out}, ${workdir}, ${pipeline.dir},
 * ${steps}, ${model.dir}, ${python} before hashing, so a fingerprint does not depend on where the run's
 * folders are. Secret values (registered by interpolation) are hashed and
 * never shown. Workload: once per step; the probe is one short interpreter
 * start per run (tens of ms).
 */
#define _GNU_SOURCE
#include "run/incremental.h"

#include <dirent.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/pydeps.h"
#include "cache/snapshot.h"
#include "proc/proc.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

#define INPUT_FILES_MAX 100000u
#define PROBE_MAX_BYTES (64u * 1024u)
#define PROBE_TIMEOUT_MS 60000u

/* The interpreter probe: a few lines "NAME VERSION [PATH]"; -I keeps the caller's environment out of it. */
static const char probe_code[] =
	"import sys, os, importlib.metadata as m\n"
	"print('python', sys.version.split()[0], os.path.realpath(sys.executable), os.path.realpath(sys.prefix))\n"
	"for d in ('torch', 'executorch', 'torchao', 'transformers', 'safetensors', 'numpy'):\n"
	"    try:\n"
	"        print(d, m.version(d))\n"
	"    except Exception:\n"
	"        print(d, '-')\n";

void pf_inc_dispose(pf_inc *inc)
{
	if (!inc)
		return;
	pf_inc_finish(inc);
	free(inc->tools);
	free(inc->tools_python);
	for (size_t i = 0; i < inc->n_upstream; i++)
		pf_store_file_dispose(&inc->upstream[i]);
	free(inc->upstream);
	free(inc->upstream_after);
	pf_fp_dispose(&inc->pending);
	memset(inc, 0, sizeof(*inc));
}

typedef struct folder {
	const char *path;
	const char *name;
} folder;

/* Replace this run's absolute folders by their ${...} names (longest first, so nested folders resolve). */
static char *normalise(const pf_inc *inc, const char *text)
{
	/* the interpreter by its path too: the tools part says which one it is (a venv reached through a
	 * symbolic link, as <cache>/pteflow/current, is the same interpreter) */
	folder f[6] = {
		{inc->ictx->out, "${out}"},
		{inc->ictx->workdir, "${workdir}"},
		{inc->ictx->pipeline_dir, "${pipeline.dir}"},
		{inc->steps_path, "${steps}"},
		{inc->ictx->model_dir, "${model.dir}"},
		{inc->ictx->python, "${python}"},
	};
	pf_buf b;
	pf_buf_init(&b, SIZE_MAX / 2);
	/* insertion sort, stable: of two equal folders (out and workdir by default) the first named wins */
	for (size_t i = 1; i < 6; i++) {
		folder t = f[i];
		size_t k = i, len = t.path ? strlen(t.path) : 0;
		for (; k > 0 && (f[k - 1].path ? strlen(f[k - 1].path) : 0) < len; k--)
			f[k] = f[k - 1];
		f[k] = t;
	}
	for (const char *p = text; *p;) {
		bool hit = false;
		for (size_t i = 0; i < 6 && !hit; i++) {
			size_t len = f[i].path ? strlen(f[i].path) : 0;
			if (len > 1 && !strncmp(p, f[i].path, len)) {
				pf_buf_puts(&b, f[i].name);
				p += len;
				hit = true;
			}
		}
		if (!hit)
			pf_buf_append(&b, p++, 1);
	}
	return pf_buf_detach(&b);
}

/* Add an item whose value is text: hashed as given, shown normalised and redacted (not at all when secret). */
static void add_text(pf_fingerprint *fp, const pf_inc *inc, const char *key, const char *value)
{
	char *norm = normalise(inc, value);
	bool secret = pf_secret_contains(value, strlen(value));
	pf_fp_add(fp, key, norm, strlen(norm), secret ? NULL : norm);
	free(norm);
}

static bool step_mentions(const pf_step *s, const char *needle)
{
	for (size_t i = 0; i < s->n_argv; i++)
		if (strstr(s->argv[i], needle))
			return true;
	for (size_t i = 0; i < s->n_env; i++)
		if (strstr(s->env[i].value, needle))
			return true;
	for (size_t i = 0; i < s->n_inputs; i++)
		if (strstr(s->inputs[i], needle))
			return true;
	return s->cwd && strstr(s->cwd, needle);
}

static bool argv_mentions(char *const *argv, size_t n, const char *needle)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(argv[i], needle))
			return true;
	return false;
}

/* Does the command name the step package (outside this run's folders, whose paths may contain anything)? */
static bool names_package(const pf_inc *inc, char *const *argv, size_t n)
{
	bool found = false;
	for (size_t i = 0; i < n && !found; i++) {
		char *norm = normalise(inc, argv[i]);
		found = strstr(norm, "pteflow_steps") != NULL;
		free(norm);
	}
	return found;
}

static void add_command(pf_fingerprint *fp, const pf_inc *inc, const pf_step *s, char *const *argv, size_t n,
			const char *cwd)
{
	pf_fp_component_begin(fp, "command");
	pf_fp_add(fp, "shell", s->shell ? "true" : "false", s->shell ? 4 : 5, s->shell ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "argv[%zu]", i);
		add_text(fp, inc, key, argv[i]);
	}
	if (cwd)
		add_text(fp, inc, "cwd", cwd);
}

/*
 * Variables that only say where things are, whose content other components
 * fingerprint (the model by its blobs, the output folder by its files), or
 * that cannot change what a step writes (the terminal type): left out, so a
 * mirror, a moved Hub cache or another temporary folder does not re-run
 * every step. README "Incremental runs" lists them.
 */
static bool location_only(const char *name)
{
	static const char *const names[] = {"TERM", "TMPDIR", "HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE",
					    "XDG_CACHE_HOME", NULL};
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

static int cmp_env(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_env(pf_fingerprint *fp, const pf_inc *inc, char *const *envp)
{
	size_t n = 0;
	char **sorted;
	while (envp && envp[n])
		n++;
	sorted = pf_xcalloc(n + 1, sizeof(char *));
	memcpy(sorted, envp, n * sizeof(char *));
	qsort(sorted, n, sizeof(char *), cmp_env);
	pf_fp_component_begin(fp, "env");
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(sorted[i], '=');
		char *name;
		if (!eq)
			continue;
		name = pf_xstrndup(sorted[i], (size_t)(eq - sorted[i]));
		if (!location_only(name))
			add_text(fp, inc, name, eq + 1);
		free(name);
	}
	free(sorted);
}

/* The interpreter's versions, asked once per run. */
static const char *tools_of(pf_inc *inc)
{
	const char *python = inc->ictx->python;
	char *argv[] = {(char *)python, (char *)"-I", (char *)"-c", (char *)probe_code, NULL};
	const char *path = getenv("PATH");
	char *envp[3] = {NULL, NULL, NULL};
	if (inc->tools && inc->tools_python && !strcmp(inc->tools_python, python))
		return inc->tools;
	free(inc->tools);
	free(inc->tools_python);
	inc->tools = NULL;
	inc->tools_python = pf_xstrdup(python);
	envp[0] = pf_xasprintf("PATH=%s", path ? path : "/usr/bin:/bin");
	envp[1] = pf_xstrdup("LC_ALL=C");
	if (pf_proc_capture(&inc->tools, argv, envp, PROBE_MAX_BYTES, PROBE_TIMEOUT_MS) < 0) {
		pf_log_warn("the versions of \"%s\" could not be read (%s): steps that use it are fingerprinted "
			    "without them",
			    python, pf_error_last());
		inc->tools = pf_xstrdup("");
	}
	free(envp[0]);
	free(envp[1]);
	return inc->tools;
}

static void add_tools(pf_fingerprint *fp, pf_inc *inc)
{
	const char *text = tools_of(inc);
	pf_fp_component_begin(fp, "tools");
	if (!text[0])
		pf_fp_add(fp, "python", "unknown", 7, "unknown");
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n'), *sp = strchr(line, ' ');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (sp && sp < line + len) {
			char *key = pf_xstrndup(line, (size_t)(sp - line));
			char *value = pf_xstrndup(sp + 1, len - (size_t)(sp - line) - 1);
			pf_fp_add(fp, key, value, strlen(value), value);
			free(key);
			free(value);
		}
		line += len + (end ? 1 : 0);
	}
}

/* Hash a file's content into the fingerprint; an unreadable file is an item too ("unreadable"). */
static void add_file(pf_fingerprint *fp, const char *key, const char *path)
{
	char hex[65];
	if (pf_sha256_file(hex, NULL, path) == 0)
		pf_fp_add_hash(fp, key, hex, NULL);
	else
		pf_fp_add(fp, key, "unreadable", 10, "unreadable");
}

static void add_packages(pf_fingerprint *fp, const pf_inc *inc)
{
	char *req = inc->steps_path ? pf_fs_join(inc->steps_path, "requirements.txt") : NULL;
	pf_fp_component_begin(fp, "packages");
	if (req && pf_fs_exists(req))
		add_file(fp, "requirements.txt", req);
	free(req);
}

/* The module a step runs with `-m pteflow_steps.X`, or NULL. */
static const char *step_module(char *const *argv, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (!strcmp(argv[i], "-m") && !strncmp(argv[i + 1], "pteflow_steps", 13))
			return argv[i + 1];
	return NULL;
}

static void add_steps_package(pf_fingerprint *fp, const pf_inc *inc, char *const *argv, size_t n, bool shell)
{
	const char *module = shell ? NULL : step_module(argv, n);
	char **files = NULL;
	size_t n_files = 0;
	int rc;
	pf_fp_component_begin(fp, "steps");
	rc = module ? pf_pydeps_closure(&files, &n_files, inc->steps_path, module)
		    : pf_pydeps_package(&files, &n_files, inc->steps_path, "pteflow_steps");
	if (rc < 0) {
		pf_fp_add(fp, module ? module : "pteflow_steps", "missing", 7, "missing");
		return;
	}
	for (size_t i = 0; i < n_files; i++) {
		char *full = pf_fs_join(inc->steps_path, files[i]);
		add_file(fp, files[i], full);
		free(full);
	}
	pf_strv_free(files, n_files);
}

/* Model files by their blob name in the Hub cache (the snapshot's symlink target), else by content. */
static void add_model(pf_fingerprint *fp, const pf_inc *inc)
{
	const pf_model_record *m = inc->model;
	pf_fp_component_begin(fp, "model");
	if (!m) {
		pf_fp_add(fp, "commit", "unknown", 7, "unknown (not in the cache)");
		return;
	}
	pf_fp_add(fp, "commit", m->commit ? m->commit : "", m->commit ? strlen(m->commit) : 0, m->commit);
	for (size_t i = 0; i < m->n_files; i++) {
		char *path = pf_fs_join(m->snapshot_dir, m->files[i].path);
		char target[PATH_MAX];
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			const char *blob;
			target[len] = '\0';
			blob = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
			pf_fp_add(fp, m->files[i].path, blob, strlen(blob), blob);
		} else {
			add_file(fp, m->files[i].path, path);
		}
		free(path);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file below dir (sorted), appended to *files. */
static void files_below(char ***files, size_t *n, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t first = *n;
	while (d && (e = readdir(d)) && *n < INPUT_FILES_MAX) {
		char *p;
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = pf_fs_join(dir, e->d_name);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			files_below(files, n, p);
			free(p);
		} else {
			*files = pf_xreallocarray(*files, *n + 1, sizeof(char *));
			(*files)[(*n)++] = p;
		}
	}
	if (d)
		closedir(d);
	if (*n > first)
		qsort(*files + first, *n - first, sizeof(char *), cmp_str);
}

static int add_inputs(pf_fingerprint *fp, const pf_inc *inc, const pf_step *s)
{
	pf_fp_component_begin(fp, "inputs");
	for (size_t i = 0; i < s->n_inputs; i++) {
		char *pattern = NULL, *abs;
		char **files = NULL;
		size_t n = 0;
		glob_t g;
		int rc = pf_interp_expand(&pattern, s->inputs[i], inc->ictx);
		if (rc < 0)
			return pf_error_code(PF_EINVALID, "step \"%s\": inputs: %s", s->name, pf_error_last());
		abs = pattern[0] == '/' ? pf_xstrdup(pattern) : pf_fs_join(inc->ictx->pipeline_dir, pattern);
		memset(&g, 0, sizeof(g));
		if (glob(abs, 0, NULL, &g) == 0) {
			for (size_t k = 0; k < g.gl_pathc; k++) {
				struct stat st;
				if (stat(g.gl_pathv[k], &st) == 0 && S_ISDIR(st.st_mode)) {
					files_below(&files, &n, g.gl_pathv[k]);
				} else if (n < INPUT_FILES_MAX) {
					files = pf_xreallocarray(files, n + 1, sizeof(char *));
					files[n++] = pf_xstrdup(g.gl_pathv[k]);
				}
			}
		}
		globfree(&g);
		if (!n) {
			char *key = normalise(inc, abs);
			pf_fp_add(fp, key, "no match", 8, "no match");
			free(key);
		}
		for (size_t k = 0; k < n; k++) {
			char *key = normalise(inc, files[k]);
			add_file(fp, key, files[k]);
			free(key);
		}
		pf_strv_free(files, n);
		free(abs);
		free(pattern);
	}
	return 0;
}

static void add_upstream(pf_fingerprint *fp, const pf_inc *inc)
{
	pf_fp_component_begin(fp, "upstream");
	if (inc->upstream_unknown) {
		/* explain only: what an earlier step will write is not known before it runs */
		char *why = pf_xasprintf("outputs of \"%s\", which runs first", inc->upstream_after);
		pf_fp_add(fp, "unknown", why, strlen(why), why);
		free(why);
	}
	for (size_t i = 0; i < inc->n_upstream; i++)
		pf_fp_add_hash(fp, inc->upstream[i].path, inc->upstream[i].sha256, NULL);
}

int pf_inc_fingerprint(pf_fingerprint *fp, pf_inc *inc, const pf_step *s, char *const *argv, size_t n_argv,
		       char *const *envp, const char *cwd)
{
	const char *python = inc->ictx->python;
	bool uses_python = python && argv_mentions(argv, n_argv, python);
	int rc = 0;
	pf_fp_init(fp);
	add_command(fp, inc, s, argv, n_argv, cwd);
	add_env(fp, inc, envp);
	if (uses_python) {
		add_tools(fp, inc);
		add_packages(fp, inc);
	}
	if (inc->steps_path && names_package(inc, argv, n_argv))
		add_steps_package(fp, inc, argv, n_argv, s->shell);
	if (step_mentions(s, "${model."))
		add_model(fp, inc);
	if (s->n_inputs && (rc = add_inputs(fp, inc, s)) < 0) {
		pf_fp_dispose(fp);
		return rc;
	}
	add_upstream(fp, inc);
	pf_fp_finish(fp);
	return 0;
}

char *pf_inc_miss_reason(pf_inc *inc, const pf_step *s, const pf_fingerprint *fp, char **component)
{
	char last[65];
	pf_store_entry *e = NULL;
	const char *comp = NULL;
	char *why = NULL;
	if (component)
		*component = NULL;
	if (pf_store_last(last, inc->store, inc->pipeline_name, inc->target, s->name) < 0)
		return pf_xstrdup("never stored before");
	if (pf_store_get(&e, inc->store, last) < 0)
		return pf_xstrdup("its last stored entry is gone (removed by gc or damaged)");
	why = pf_fp_diff(fp, &e->fp, &comp);
	if (component && comp)
		*component = pf_xstrdup(comp);
	pf_store_entry_free(e);
	return why ? why : pf_xstrdup("its entry is no longer in the store");
}

void pf_inc_add_upstream(pf_inc *inc, const pf_store_file *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pf_store_file *u = NULL;
		for (size_t k = 0; k < inc->n_upstream && !u; k++)
			if (!strcmp(inc->upstream[k].path, files[i].path))
				u = &inc->upstream[k]; /* a later step rewrote it: its content now counts */
		if (!u) {
			inc->upstream = pf_xreallocarray(inc->upstream, inc->n_upstream + 1, sizeof(pf_store_file));
			u = &inc->upstream[inc->n_upstream++];
			memset(u, 0, sizeof(*u));
			u->path = pf_xstrdup(files[i].path);
		}
		memcpy(u->sha256, files[i].sha256, 65);
		u->size_bytes = files[i].size_bytes;
	}
}

const char *const *pf_inc_skip_names(const pf_inc *inc)
{
	pf_inc *m = (pf_inc *)inc;
	m->skip[0] = "logs";
	m->skip[1] = "steps";
	m->skip[2] = "SHA256SUMS";
	m->skip[3] = inc->manifest_name ? inc->manifest_name : "manifest.json";
	m->skip[4] = "provenance.intoto.jsonl";
	m->skip[5] = NULL;
	return inc->skip;
}

char *pf_inc_limits_reason(const pf_step *s, uint64_t stored_peak_bytes, uint64_t stored_wall_ms)
{
	char *a = NULL, *b = NULL, *why = NULL;
	if (s->limits.memory_bytes && stored_peak_bytes > s->limits.memory_bytes) {
		a = pf_format_size(stored_peak_bytes);
		b = pf_format_size(s->limits.memory_bytes);
		why = pf_xasprintf("limits: the stored run peaked at %s, above limits.memory %s", a, b);
	} else if (s->limits.timeout_ms && stored_wall_ms > s->limits.timeout_ms) {
		a = pf_format_duration(stored_wall_ms);
		b = pf_format_duration(s->limits.timeout_ms);
		why = pf_xasprintf("limits: the stored run took %s, longer than limits.timeout %s", a, b);
	}
	free(a);
	free(b);
	return why;
}

/* A hit: the stored run's figures become the step's, so the manifest still says how its outputs were made. */
static void fill_cached(pf_step_record *sr, const pf_store_entry *e, uint64_t restore_ms)
{
	pf_guard_mode mode = PF_GUARD_NONE;
	sr->ran = true;
	sr->cached = true;
	sr->cache_status = "hit";
	sr->cache_source = "local";
	sr->cache_origin_utc = pf_xstrdup(e->created_utc);
	sr->cache_restore_ms = restore_ms;
	memset(&sr->result, 0, sizeof(sr->result));
	sr->result.end = PF_END_OK;
	sr->result.wall_ms = e->wall_ms;
	sr->result.user_ms = e->user_ms;
	sr->result.sys_ms = e->sys_ms;
	sr->result.maxrss_bytes = e->maxrss_bytes;
	sr->result.guard.peak_bytes = e->peak_bytes;
	if (pf_guard_mode_parse(&mode, e->guard) == 0)
		sr->result.guard.mode = mode;
	sr->result.log_bytes = e->log.size_bytes;
	memcpy(sr->result.log_sha256, e->log.sha256, 65);
}

/*
 * A local miss: ask the remote store, which copies the entry into the local
 * store when it has one that passes its checks. Anything else is a miss; a
 * refused entry or an unreachable server is a warning (the latter once).
 */
static int remote_fetch(pf_inc *inc, const pf_step *s, pf_step_record *sr)
{
	bool verified = false, was_down = pf_remote_down(inc->remote);
	int rc;
	if (was_down)
		return PF_ENOTFOUND;
	rc = pf_remote_fetch(inc->remote, inc->store, sr->fingerprint, &verified);
	if (rc == 0) {
		sr->cache_source = "remote";
		sr->cache_remote_verified = verified;
		pf_log_info("step \"%s\": restored from the remote store%s", s->name,
			    verified ? " (signature verified)" : " (unverified: no --remote-key)");
	} else if (pf_remote_down(inc->remote)) {
		pf_log_warn("%s: the run goes on with the local store only", pf_error_last());
	} else if (rc != PF_ENOTFOUND) {
		pf_log_warn("step \"%s\": %s; it runs", s->name, pf_error_last());
	}
	return rc;
}

int pf_inc_before_step(pf_inc *inc, const pf_step *s, pf_step_record *sr, char *const *argv, size_t n_argv,
		       char *const *envp, const char *cwd, bool rebuild, int *lock_fd)
{
	pf_fingerprint fp;
	pf_store_entry *e = NULL;
	uint64_t t0 = pf_clock_mono_ms(), t1;
	bool waited = false;
	int rc;
	*lock_fd = -1;
	if (!inc->store) {
		sr->cache_status = "disabled";
		return 0;
	}
	if ((rc = pf_inc_fingerprint(&fp, inc, s, argv, n_argv, envp, cwd)) < 0)
		return rc;
	memcpy(sr->fingerprint, fp.sha256, 65);
	pf_fp_dispose(&inc->pending);
	inc->pending = fp; /* kept for the entry pf_inc_after_step stores */
	pf_fp_init(&fp);
	sr->cache_status = !s->cache ? "off" : rebuild ? "rebuild" : "miss";
	if (!s->cache)
		goto done;
	if (pf_store_lock(lock_fd, inc->store, sr->fingerprint, &waited) < 0) {
		pf_log_warn("step \"%s\": %s: it runs without the store", s->name, pf_error_last());
		*lock_fd = -1;
		sr->cache_status = "disabled";
		goto done;
	}
	if (waited)
		pf_log_info("step \"%s\": waited for another run computing the same fingerprint", s->name);
	if (rebuild)
		goto done;
	rc = pf_store_get(&e, inc->store, sr->fingerprint);
	if (rc == PF_ENOTFOUND && inc->remote && remote_fetch(inc, s, sr) == 0)
		rc = pf_store_get(&e, inc->store, sr->fingerprint);
	if (rc == 0 && (sr->cache_reason = pf_inc_limits_reason(s, e->peak_bytes, e->wall_ms)) != NULL) {
		pf_log_info("step \"%s\": stored, but it runs again under this run's guard (%s)", s->name,
			    sr->cache_reason);
		rc = 0;
		goto done;
	}
	if (rc == 0) {
		t1 = pf_clock_mono_ms();
		rc = pf_store_restore(inc->store, e, inc->ictx->out);
		if (rc == 0) {
			bool remote = sr->cache_source != NULL; /* set by remote_fetch */
			fill_cached(sr, e, pf_clock_mono_ms() - t1);
			if (remote)
				sr->cache_source = "remote";
			pf_inc_add_upstream(inc, e->outputs, e->n_outputs);
			pf_store_unlock(*lock_fd);
			*lock_fd = -1;
			rc = 1;
			goto done;
		}
		if (rc == PF_ENOTFOUND) /* store gc removed it meanwhile: a plain miss */
			sr->cache_reason = pf_xasprintf("%s", pf_error_last());
		else
			pf_log_warn("step \"%s\": %s; it runs again", s->name, pf_error_last());
		if (!sr->cache_reason)
			sr->cache_reason = pf_xasprintf(rc == PF_EINVALID ? "the stored entry failed its check: %s"
								  : "the stored entry could not be restored: %s",
						pf_error_last());
	} else if (rc == PF_EINVALID) {
		pf_log_warn("step \"%s\": %s; it runs again", s->name, pf_error_last());
		sr->cache_reason = pf_xasprintf("the stored entry is unreadable: %s", pf_error_last());
	}
	if (!sr->cache_reason)
		sr->cache_reason = pf_inc_miss_reason(inc, s, &inc->pending, NULL);
	pf_log_info("step \"%s\": not in the store (%s)", s->name, sr->cache_reason);
done:
	if (rc != 1) {
		rc = 0;
		sr->cache_source = NULL; /* fetched from the remote, maybe, but it runs */
	}
	sr->cache_overhead_ms = pf_clock_mono_ms() - t0 - sr->cache_restore_ms;
	pf_store_entry_free(e);
	pf_fp_dispose(&fp);
	return rc;
}
