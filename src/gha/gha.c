/*
 * GitHub Actions integration, for pteflow running as a workflow step
 * (GITHUB_ACTIONS=true): workflow commands on stderr (::add-mask::,
 * ::group::, ::error file=...::), the Markdown job summary appended to
 * GITHUB_STEP_SUMMARY, step outputs appended to GITHUB_OUTPUT, and the run
 * context for the manifest. Outside Actions every function is a no-op. The
 * workload is a handful of short lines per step and two small file appends
 * per run.
 *
 * Secrets: each value registered with pf_secret_add() is announced with
 * ::add-mask:: the moment it is registered (a hook installed by
 * pf_gha_init(), which main() calls first), so the runner masks it before
 * any line can contain it. Everything else this file prints or writes goes
 * through pf_secret_redact() first.
 *
 * Escaping follows the runner (actions/toolkit command.ts): in the data part
 * '%' '\r' '\n' become %25 %0D %0A; property values also escape ':' and ','
 * as %3A and %2C.
 */
#include "gha/gha.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define TEXT_MAX ((size_t)64 << 20)

bool pf_gha_active(void)
{
	const char *v = getenv("GITHUB_ACTIONS");
	return v && strcmp(v, "true") == 0;
}

static void escape_data(pf_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '%')
			(void)pf_buf_puts(b, "%25");
		else if (*s == '\r')
			(void)pf_buf_puts(b, "%0D");
		else if (*s == '\n')
			(void)pf_buf_puts(b, "%0A");
		else
			(void)pf_buf_append(b, s, 1);
	}
}

static void escape_property(pf_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == ':')
			(void)pf_buf_puts(b, "%3A");
		else if (*s == ',')
			(void)pf_buf_puts(b, "%2C");
		else {
			char one[2] = {*s, '\0'};
			escape_data(b, one);
		}
	}
}

/*
 * Print one workflow-command line. The runner reads commands from stderr as
 * well as stdout; stderr keeps stdout for results (`--json` stays parseable)
 * and keeps the commands in order with the step output pteflow echoes there.
 */
static void emit(pf_buf *line)
{
	(void)pf_buf_puts(line, "\n");
	fwrite(pf_buf_cstr(line), 1, line->len, stderr);
	fflush(stderr);
}

static void mask_one(const char *value, size_t len)
{
	pf_buf b;
	char *v;
	if (len == 0)
		return;
	v = pf_xstrndup(value, len);
	pf_buf_init(&b, TEXT_MAX);
	(void)pf_buf_puts(&b, "::add-mask::");
	escape_data(&b, v);
	emit(&b);
	pf_buf_dispose(&b);
	free(v);
}

/* The hook: the whole value, and each line of a multi-line value (the runner masks line by line). */
static void mask_hook(const char *value)
{
	const char *p = value;
	if (!value || !*value)
		return;
	mask_one(value, strlen(value));
	if (!strpbrk(value, "\r\n"))
		return;
	while (*p) {
		size_t n = strcspn(p, "\r\n");
		if (n >= 4)
			mask_one(p, n);
		p += n;
		p += strspn(p, "\r\n");
	}
}

void pf_gha_init(void)
{
	if (!pf_gha_active())
		return;
	pf_secret_set_hook(mask_hook);
	pf_secret_foreach(mask_hook);
}

void pf_gha_group_begin(const char *title)
{
	pf_buf b;
	char *clean;
	if (!pf_gha_active())
		return;
	clean = pf_secret_redact(title ? title : "");
	pf_buf_init(&b, TEXT_MAX);
	(void)pf_buf_puts(&b, "::group::");
	escape_data(&b, clean);
	emit(&b);
	pf_buf_dispose(&b);
	free(clean);
}

void pf_gha_group_end(void)
{
	if (!pf_gha_active())
		return;
	fputs("::endgroup::\n", stderr);
	fflush(stderr);
}

/* Append ",key=value" (or "key=value" first) with property escaping and redaction. */
static void add_property(pf_buf *b, bool *first, const char *key, const char *value)
{
	char *clean = pf_secret_redact(value);
	(void)pf_buf_puts(b, *first ? " " : ",");
	*first = false;
	(void)pf_buf_puts(b, key);
	(void)pf_buf_puts(b, "=");
	escape_property(b, clean);
	free(clean);
}

void pf_gha_annotate(const char *level, const char *file, int line, int col, const char *title, const char *message)
{
	pf_buf b;
	bool first = true;
	char *clean;
	char num[24];
	if (!pf_gha_active())
		return;
	if (!level || (strcmp(level, "error") && strcmp(level, "warning") && strcmp(level, "notice")))
		level = "error";
	pf_buf_init(&b, TEXT_MAX);
	(void)pf_buf_printf(&b, "::%s", level);
	if (file && *file)
		add_property(&b, &first, "file", file);
	if (line > 0) {
		snprintf(num, sizeof(num), "%d", line);
		add_property(&b, &first, "line", num);
		if (col > 0) {
			snprintf(num, sizeof(num), "%d", col);
			add_property(&b, &first, "col", num);
		}
	}
	if (title && *title)
		add_property(&b, &first, "title", title);
	(void)pf_buf_puts(&b, "::");
	clean = pf_secret_redact(message ? message : "");
	escape_data(&b, clean);
	emit(&b);
	free(clean);
	pf_buf_dispose(&b);
}

static char *env_copy(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? pf_secret_redact(v) : NULL;
}

void pf_gha_context(pf_ci_record *out)
{
	memset(out, 0, sizeof(*out));
	if (!pf_gha_active())
		return;
	out->present = true;
	out->repository = env_copy("GITHUB_REPOSITORY");
	out->run_id = env_copy("GITHUB_RUN_ID");
	out->run_attempt = env_copy("GITHUB_RUN_ATTEMPT");
	out->workflow = env_copy("GITHUB_WORKFLOW");
	out->ref = env_copy("GITHUB_REF");
	out->sha = env_copy("GITHUB_SHA");
	out->runner_os = env_copy("RUNNER_OS");
	out->job = env_copy("GITHUB_JOB");
	out->server_url = env_copy("GITHUB_SERVER_URL");
}

void pf_gha_context_dispose(pf_ci_record *ci)
{
	if (!ci)
		return;
	free(ci->repository);
	free(ci->run_id);
	free(ci->run_attempt);
	free(ci->workflow);
	free(ci->ref);
	free(ci->sha);
	free(ci->runner_os);
	free(ci->job);
	free(ci->server_url);
	memset(ci, 0, sizeof(*ci));
}

/* ---- the job summary ---- */

/* Keep in step with pf_guard_mode in src/guard/guard.h (not called from here: gha links util and manifest only). */
static const char *guard_word(pf_guard_mode m)
{
	static const char *const names[] = {"auto", "cgroup2", "cgroup1", "rlimit", "watchdog", "none"};
	return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "unknown";
}

static void size_decimal(pf_buf *b, uint64_t n)
{
	if (n >= 1000000000ULL)
		(void)pf_buf_printf(b, "%.2f GB", (double)n / 1e9);
	else if (n >= 1000000ULL)
		(void)pf_buf_printf(b, "%.2f MB", (double)n / 1e6);
	else if (n >= 1000ULL)
		(void)pf_buf_printf(b, "%.2f kB", (double)n / 1e3);
	else
		(void)pf_buf_printf(b, "%llu B", (unsigned long long)n);
}

static void size_binary(pf_buf *b, uint64_t n)
{
	if (n >= (1ULL << 30))
		(void)pf_buf_printf(b, "%.2f GiB", (double)n / (double)(1ULL << 30));
	else if (n >= (1ULL << 20))
		(void)pf_buf_printf(b, "%.1f MiB", (double)n / (double)(1ULL << 20));
	else if (n >= (1ULL << 10))
		(void)pf_buf_printf(b, "%.1f KiB", (double)n / 1024.0);
	else
		(void)pf_buf_printf(b, "%llu B", (unsigned long long)n);
}

static void duration(pf_buf *b, uint64_t ms)
{
	unsigned long long s = ms / 1000;
	if (ms < 1000)
		(void)pf_buf_printf(b, "%llu ms", (unsigned long long)ms);
	else if (s < 60)
		(void)pf_buf_printf(b, "%.1f s", (double)ms / 1000.0);
	else if (s < 3600)
		(void)pf_buf_printf(b, "%llum %02llus", s / 60, s % 60);
	else
		(void)pf_buf_printf(b, "%lluh %02llum", s / 3600, (s / 60) % 60);
}

/* Text inside a Markdown table cell: no row break, no column break, no raw HTML. */
static void cell(pf_buf *b, const char *s)
{
	if (!s)
		s = "";
	for (; *s; s++) {
		switch (*s) {
		case '|': (void)pf_buf_puts(b, "\\|"); break;
		case '\n':
		case '\r': (void)pf_buf_puts(b, " "); break;
		case '<': (void)pf_buf_puts(b, "&lt;"); break;
		case '>': (void)pf_buf_puts(b, "&gt;"); break;
		case '&': (void)pf_buf_puts(b, "&amp;"); break;
		default: (void)pf_buf_append(b, s, 1);
		}
	}
}

/* `code` in a cell; falls back to plain text when the value holds a backtick. */
static void cell_code(pf_buf *b, const char *s)
{
	if (!s || !*s || strchr(s, '`')) {
		cell(b, s ? s : "");
		return;
	}
	(void)pf_buf_puts(b, "`");
	for (; *s; s++) {
		if (*s == '|')
			(void)pf_buf_puts(b, "\\|");
		else if (*s == '\n' || *s == '\r')
			(void)pf_buf_puts(b, " ");
		else
			(void)pf_buf_append(b, s, 1);
	}
	(void)pf_buf_puts(b, "`");
}

#define MARK_PASS "\xe2\x9c\x85"  /* U+2705 white heavy check mark */
#define MARK_FAIL "\xe2\x9d\x8c"  /* U+274C cross mark */

static const pf_step_record *find_step(const pf_run_record *rec, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = rec->n_steps; i-- > 0;)
		if (rec->steps[i].name && strcmp(rec->steps[i].name, name) == 0)
			return &rec->steps[i];
	return NULL;
}

static uint64_t step_peak(const pf_step_record *s)
{
	return s->result.guard.peak_bytes ? s->result.guard.peak_bytes : s->result.maxrss_bytes;
}

static void step_status(pf_buf *b, const pf_step_record *s)
{
	if (!s->ran) {
		(void)pf_buf_puts(b, "skipped");
		return;
	}
	switch (s->result.end) {
	case PF_END_OK: (void)pf_buf_puts(b, s->cached ? MARK_PASS " cached" : MARK_PASS " success"); break;
	case PF_END_EXIT: (void)pf_buf_printf(b, MARK_FAIL " failed (exit %d)", s->result.exit_code); break;
	case PF_END_SIGNAL: (void)pf_buf_printf(b, MARK_FAIL " killed by signal %d", s->result.signal); break;
	case PF_END_TIMEOUT: (void)pf_buf_puts(b, MARK_FAIL " timed out"); break;
	case PF_END_MEMORY: (void)pf_buf_puts(b, MARK_FAIL " out of memory"); break;
	case PF_END_INTERRUPTED: (void)pf_buf_puts(b, MARK_FAIL " interrupted"); break;
	case PF_END_SPAWN: (void)pf_buf_puts(b, MARK_FAIL " could not start"); break;
	default: (void)pf_buf_puts(b, "unknown"); break;
	}
}

static void artifact_row(pf_buf *b, const pf_run_record *rec, const pf_artifact_result *a)
{
	const pf_step_record *maker = find_step(rec, a->produced_by);
	(void)pf_buf_puts(b, "| ");
	cell_code(b, a->path);
	(void)pf_buf_puts(b, " | ");
	cell(b, a->kind);
	(void)pf_buf_puts(b, " | ");
	if (a->exists)
		size_decimal(b, a->size_bytes);
	else
		(void)pf_buf_puts(b, "missing");
	(void)pf_buf_puts(b, " | ");
	for (size_t g = 0; g < a->n_gates; g++) {
		const pf_gate_result *gr = &a->gates[g];
		if (g)
			(void)pf_buf_puts(b, "<br>");
		(void)pf_buf_puts(b, gr->passed ? MARK_PASS " " : MARK_FAIL " ");
		cell(b, gr->name);
		(void)pf_buf_puts(b, gr->passed ? " pass" : " fail");
		if (!gr->passed && (gr->expected || gr->actual)) {
			(void)pf_buf_puts(b, " (expected ");
			cell(b, gr->expected ? gr->expected : "-");
			(void)pf_buf_puts(b, ", got ");
			cell(b, gr->actual ? gr->actual : "-");
			(void)pf_buf_puts(b, ")");
		}
	}
	if (a->n_gates == 0)
		(void)pf_buf_puts(b, a->passed ? MARK_PASS " pass" : MARK_FAIL " fail");
	(void)pf_buf_puts(b, " | ");
	cell_code(b, a->sha256[0] ? a->sha256 : NULL);
	(void)pf_buf_puts(b, " | ");
	if (maker && maker->ran) {
		size_binary(b, step_peak(maker));
		(void)pf_buf_puts(b, " (");
		cell(b, maker->name);
		(void)pf_buf_puts(b, ")");
	} else {
		(void)pf_buf_puts(b, "-");
	}
	(void)pf_buf_puts(b, " |\n");
}

static void step_row(pf_buf *b, const pf_step_record *s)
{
	const pf_guard_report *g = &s->result.guard;
	(void)pf_buf_puts(b, "| ");
	cell_code(b, s->name);
	(void)pf_buf_puts(b, " | ");
	step_status(b, s);
	(void)pf_buf_puts(b, " | ");
	if (s->ran)
		duration(b, s->result.wall_ms);
	else
		(void)pf_buf_puts(b, "-");
	(void)pf_buf_puts(b, " | ");
	if (s->ran)
		size_binary(b, step_peak(s));
	else
		(void)pf_buf_puts(b, "-");
	(void)pf_buf_puts(b, " | ");
	if (s->ran) {
		(void)pf_buf_puts(b, guard_word(g->mode));
		if (g->limit_bytes) {
			(void)pf_buf_puts(b, ", limit ");
			size_binary(b, g->limit_bytes);
		}
		if (g->memory_kill)
			(void)pf_buf_puts(b, ", **memory kill**");
	} else {
		(void)pf_buf_puts(b, "-");
	}
	(void)pf_buf_puts(b, " |\n");
}

/* The runtime KPI gates (issue 17): a table of gate, limit, measured value and verdict. */
static void kpi_section(pf_buf *b, const pf_kpi_record *k)
{
	(void)pf_buf_puts(b, "### Runtime KPIs\n\nStep ");
	cell_code(b, k->step);
	if (k->preset) {
		(void)pf_buf_puts(b, ", preset ");
		cell_code(b, k->preset);
	}
	(void)pf_buf_puts(b, " (measured on the runner's CPU, a proxy for a phone).\n\n"
			     "| gate | expected | measured | verdict |\n| --- | --- | --- | --- |\n");
	for (size_t i = 0; i < k->n_gates; i++) {
		(void)pf_buf_puts(b, "| ");
		cell_code(b, k->gates[i].name);
		(void)pf_buf_puts(b, " | ");
		cell(b, k->gates[i].expected);
		(void)pf_buf_puts(b, " | ");
		cell(b, k->gates[i].actual);
		(void)pf_buf_printf(b, " | %s |\n", k->gates[i].passed ? MARK_PASS " pass" : MARK_FAIL " fail");
	}
	(void)pf_buf_puts(b, "\n");
}

/* Render the Markdown summary of a run (heap, not yet redacted). */
char *pf_gha_render_summary(const pf_run_record *rec)
{
	pf_buf b;
	pf_buf_init(&b, TEXT_MAX);
	(void)pf_buf_printf(&b, "## %s pteflow: ", rec->passed ? MARK_PASS : MARK_FAIL);
	cell_code(&b, rec->pipeline_name ? rec->pipeline_name : "pipeline");
	if (rec->target) {
		(void)pf_buf_puts(&b, " target ");
		cell_code(&b, rec->target);
	}
	(void)pf_buf_puts(&b, rec->passed ? " passed\n\n" : " failed\n\n");
	if (!rec->passed && rec->failure) {
		(void)pf_buf_puts(&b, "> **Failure:** ");
		cell(&b, rec->failure);
		(void)pf_buf_puts(&b, "\n\n");
	}
	if (rec->pipeline_path) {
		(void)pf_buf_puts(&b, "Pipeline ");
		cell_code(&b, rec->pipeline_path);
		if (rec->git.present && rec->git.commit) {
			(void)pf_buf_puts(&b, " at commit ");
			cell_code(&b, rec->git.commit);
			if (rec->git.dirty)
				(void)pf_buf_puts(&b, " (uncommitted changes)");
		}
		if (rec->duration_ms) {
			(void)pf_buf_puts(&b, ", run took ");
			duration(&b, rec->duration_ms);
		}
		(void)pf_buf_puts(&b, ".\n\n");
	}
	(void)pf_buf_puts(&b, "### Artifacts\n\n");
	if (rec->n_artifacts == 0) {
		(void)pf_buf_puts(&b, "No artifact was recorded.\n\n");
	} else {
		(void)pf_buf_puts(&b, "| artifact | kind | size | gates | SHA-256 | peak memory (step) |\n"
				      "| --- | --- | ---: | --- | --- | ---: |\n");
		for (size_t i = 0; i < rec->n_artifacts; i++)
			artifact_row(&b, rec, &rec->artifacts[i]);
		(void)pf_buf_puts(&b, "\n");
	}
	if (rec->n_steps) {
		(void)pf_buf_puts(&b, "### Steps\n\n| step | status | duration | peak memory | guard |\n"
				      "| --- | --- | ---: | ---: | --- |\n");
		for (size_t i = 0; i < rec->n_steps; i++)
			step_row(&b, &rec->steps[i]);
		(void)pf_buf_puts(&b, "\n");
	}
	if (rec->kpi)
		kpi_section(&b, rec->kpi);
	pf_gha_memory_charts(&b, rec); /* issue 22: memory.c */
	return pf_buf_detach(&b);
}

/* ---- outputs ---- */

/* Output name: letters, digits and '_' only; everything else becomes '_'. */
char *pf_gha_output_name(const char *prefix, const char *path)
{
	char *name = pf_xasprintf("%s_%s", prefix, path ? path : "");
	for (char *p = name + strlen(prefix) + 1; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			*p = '_';
	}
	return name;
}

static void random_hex(char *out, size_t n_bytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, raw, n_bytes) : -1;
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)n_bytes) {
		/* Uniqueness against the value is checked by the caller; randomness only avoids guessing. */
		uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
		for (size_t i = 0; i < n_bytes; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			raw[i] = (unsigned char)(x >> 56);
		}
	}
	for (size_t i = 0; i < n_bytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * n_bytes] = '\0';
}

/* One entry in the GITHUB_OUTPUT format: name=value, or the heredoc form for a multi-line value. */
void pf_gha_output_entry(pf_buf *b, const char *name, const char *value)
{
	char *clean = pf_secret_redact(value ? value : "");
	if (!strpbrk(clean, "\r\n")) {
		(void)pf_buf_printf(b, "%s=%s\n", name, clean);
	} else {
		char rnd[33], *delim = NULL;
		do {
			free(delim);
			random_hex(rnd, 16);
			delim = pf_xasprintf("ghadelimiter_%s", rnd);
		} while (strstr(clean, delim));
		(void)pf_buf_printf(b, "%s<<%s\n%s\n%s\n", name, delim, clean, delim);
		free(delim);
	}
	free(clean);
}

static int append_file(const char *path, const char *text, const char *what)
{
	FILE *f = fopen(path, "a");
	int rc = 0;
	if (!f)
		return pf_error_errno("cannot open %s file \"%s\"", what, path);
	if (fputs(text, f) == EOF)
		rc = pf_error_errno("cannot write %s file \"%s\"", what, path);
	if (fclose(f) != 0 && rc == 0)
		rc = pf_error_errno("cannot write %s file \"%s\"", what, path);
	return rc;
}

/* Render the GITHUB_OUTPUT entries of a run (heap, already redacted). */
char *pf_gha_render_outputs(const pf_run_record *rec, const char *manifest_path)
{
	pf_buf b;
	char **names = pf_xcalloc(rec->n_artifacts ? rec->n_artifacts : 1, sizeof(char *));
	pf_buf_init(&b, TEXT_MAX);
	if (manifest_path)
		pf_gha_output_entry(&b, "manifest", manifest_path);
	pf_gha_output_entry(&b, "status", rec->passed ? "passed" : "failed");
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		const pf_artifact_result *a = &rec->artifacts[i];
		char *key = pf_gha_output_name("", a->path), *path, *name;
		/* Two paths may sanitise alike ("a.pte", "a_pte"): later ones get a numeric suffix. */
		for (size_t j = 0; j < i; j++) {
			if (names[j] && strcmp(names[j], key) == 0) {
				char *k2 = pf_xasprintf("%s_%zu", key, i + 1);
				free(key);
				key = k2;
				break;
			}
		}
		names[i] = key;
		path = rec->out_dir && a->path && a->path[0] != '/' ? pf_fs_join(rec->out_dir, a->path)
								  : pf_xstrdup(a->path ? a->path : "");
		name = pf_xasprintf("artifact%s", key);
		pf_gha_output_entry(&b, name, path);
		free(name);
		if (a->exists && a->sha256[0]) {
			name = pf_xasprintf("sha256%s", key);
			pf_gha_output_entry(&b, name, a->sha256);
			free(name);
		}
		free(path);
	}
	pf_strv_free(names, rec->n_artifacts);
	return pf_buf_detach(&b);
}

int pf_gha_summary(const pf_run_record *rec, const char *manifest_path)
{
	const char *summary_path = getenv("GITHUB_STEP_SUMMARY");
	const char *output_path = getenv("GITHUB_OUTPUT");
	char *text = NULL, *clean = NULL;
	int rc = 0;
	if (!pf_gha_active())
		return 0;
	if (summary_path && *summary_path) {
		text = pf_gha_render_summary(rec);
		clean = pf_secret_redact(text);
		if ((rc = append_file(summary_path, clean, "job summary")) != 0)
			goto done;
	}
	if (output_path && *output_path) {
		free(text);
		text = pf_gha_render_outputs(rec, manifest_path);
		rc = append_file(output_path, text, "step output");
	}
done:
	free(text);
	free(clean);
	return rc;
}
