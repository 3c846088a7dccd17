/*
 * ${...} interpolation for step arguments, environment values and working
 * folders (interp.h). The parser calls pf_interp_check on every such string
 * so an unknown name fails validation with its position; the run engine
 * calls pf_interp_expand just before spawning a step. Strings are short
 * (argv entries): one linear pass each.
 */
#include "pipeline/interp.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define KNOWN_NAMES "out, workdir, python, pipeline.dir, model.dir, model.commit, target, vars.NAME, env.NAME"
/*
 * Linux refuses one argument or environment string longer than 128 KiB
 * (MAX_ARG_STRLEN): a longer expansion could never run, and a few references
 * to a long variable must not cost megabytes per argument.
 */
#define EXPAND_MAX ((size_t)128 << 10)

typedef struct resolver {
	bool has_model;
	const pf_kv *vars;
	size_t n_vars;
	const pf_interp_ctx *ctx; /* NULL when only checking */
} resolver;

static bool valid_ident(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

/* Does `word` (upper case) start at p, ignoring case? */
static bool word_at(const char *p, const char *word)
{
	size_t i = 0;
	while (word[i] && p[i] && toupper((unsigned char)p[i]) == word[i])
		i++;
	return !word[i];
}

/*
 * Names whose values are redacted: any that contains one of `words`, or has
 * one of `parts` as a whole _-separated part (PAT must not catch PATH, nor
 * AUTH GIT_AUTHOR_NAME: a redacted value is hidden in every log line).
 */
static bool looks_secret(const char *name)
{
	static const char *const words[] = {"TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"};
	static const char *const parts[] = {"PAT", "PASS", "AUTH"};
	for (const char *p = name; *p; p++) {
		bool part_start = p == name || p[-1] == '_';
		for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
			if (word_at(p, words[w]))
				return true;
		for (size_t w = 0; part_start && w < sizeof(parts) / sizeof(parts[0]); w++) {
			size_t len = strlen(parts[w]);
			if (word_at(p, parts[w]) && (p[len] == '\0' || p[len] == '_'))
				return true;
		}
	}
	return false;
}

static const pf_kv *find_var(const resolver *r, const char *name)
{
	for (size_t i = 0; i < r->n_vars; i++)
		if (!strcmp(r->vars[i].key, name))
			return &r->vars[i];
	return NULL;
}

static int need(const char *value, const char *name, const char **out)
{
	if (!value)
		return pf_error_code(PF_EINVALID,
		                     "\"${%.80s}\" has no value in this context: it is set only when a pipeline runs",
		                     name);
	*out = value;
	return 0;
}

/* Resolve one name; *value is NULL when only checking. */
static int resolve(const resolver *r, const char *name, const char **value)
{
	const pf_interp_ctx *c = r->ctx;
	*value = NULL;
	if (!strcmp(name, "out"))
		return c ? need(c->out, name, value) : 0;
	if (!strcmp(name, "workdir"))
		return c ? need(c->workdir, name, value) : 0;
	if (!strcmp(name, "python"))
		return c ? need(c->python, name, value) : 0;
	if (!strcmp(name, "pipeline.dir"))
		return c ? need(c->pipeline_dir, name, value) : 0;
	if (!strcmp(name, "target")) {
		if (c)
			*value = c->target ? c->target : "";
		return 0;
	}
	if (!strcmp(name, "model.dir") || !strcmp(name, "model.commit")) {
		if (!r->has_model)
			return pf_error_code(
			    PF_EINVALID,
			    "\"${%.80s}\" needs a model source: add model: { hf: ORG/NAME } or remove the reference",
			    name);
		return c ? need(!strcmp(name, "model.dir") ? c->model_dir : c->model_commit, name, value) : 0;
	}
	if (!strncmp(name, "vars.", 5)) {
		const pf_kv *kv = find_var(r, name + 5);
		if (!valid_ident(name + 5))
			return pf_error_code(
			    PF_EINVALID,
			    "\"${%.80s}\" is not a valid variable name: use letters, digits and _, not "
			    "starting with a digit, as declared under vars:",
			    name);
		if (!kv)
			return pf_error_code(PF_EINVALID,
			                     "variable \"${%.80s}\" is not declared: add \"%.80s\" under vars:", name,
			                     name + 5);
		*value = kv->value;
		return 0;
	}
	if (!strncmp(name, "env.", 4)) {
		const char *v;
		if (!valid_ident(name + 4))
			return pf_error_code(
			    PF_EINVALID,
			    "\"${%.80s}\" is not a valid environment variable name: use letters, digits and _", name);
		if (!c)
			return 0;
		v = getenv(name + 4);
		if (!v)
			return pf_error_code(
			    PF_EINVALID,
			    "environment variable \"%.80s\" is not set (referenced as \"${%.80s}\"): export it "
			    "before running",
			    name + 4, name);
		if (c->register_env_secrets && looks_secret(name + 4))
			pf_secret_add(v);
		*value = v;
		return 0;
	}
	return pf_error_code(PF_EINVALID, "unknown variable \"${%.80s}\": known names are " KNOWN_NAMES, name);
}

static int too_long(const char *text)
{
	return pf_error_code(PF_EINVALID,
	                     "\"%.80s\" expands to more than %zu KiB: Linux refuses a longer argument or environment "
	                     "value; shorten the variables it uses or pass a file instead",
	                     text, EXPAND_MAX >> 10);
}

/* The single pass shared by check and expand; `out` NULL when checking. */
static int scan(pf_buf *out, const char *text, const resolver *r, char **bad_name)
{
	const char *p = text;
	int rc = 0;
	char *name = NULL;
	while (*p) {
		const char *close;
		const char *value;
		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			if (out && pf_buf_puts(out, "${") < 0) {
				rc = too_long(text);
				goto done;
			}
			p += 3;
			continue;
		}
		if (!(p[0] == '$' && p[1] == '{')) {
			const char *next = strchr(p + 1, '$');
			size_t n = next ? (size_t)(next - p) : strlen(p);
			if (out && pf_buf_append(out, p, n) < 0) {
				rc = too_long(text);
				goto done;
			}
			p += n;
			continue;
		}
		close = strchr(p + 2, '}');
		if (!close) {
			rc = pf_error_code(
			    PF_EINVALID,
			    "unterminated \"${\" in \"%.80s\": close it with \"}\" or write \"$${\" for a literal",
			    text);
			free(name); /* the name of an earlier, resolved reference */
			name = pf_xstrdup(p + 2);
			goto done;
		}
		free(name);
		name = pf_xstrndup(p + 2, (size_t)(close - (p + 2)));
		if (!*name) {
			rc = pf_error_code(PF_EINVALID, "empty \"${}\" in \"%.80s\": name a variable, e.g. ${out}",
			                   text);
			goto done;
		}
		if (strstr(name, "${")) {
			rc = pf_error_code(PF_EINVALID,
			                   "nested \"${\" in \"%.80s\": a reference cannot hold another; give the "
			                   "variable a value under vars: (or a target's vars:) instead",
			                   text);
			goto done;
		}
		if ((rc = resolve(r, name, &value)) < 0)
			goto done;
		if (out && pf_buf_puts(out, value) < 0) {
			rc = too_long(text);
			goto done;
		}
		p = close + 1;
	}
done:
	if (rc < 0 && bad_name) {
		*bad_name = name;
		name = NULL;
	}
	free(name);
	return rc;
}

int pf_interp_expand(char **out, const char *text, const pf_interp_ctx *ctx)
{
	pf_buf b;
	resolver r = {ctx->model_dir != NULL, ctx->vars, ctx->n_vars, ctx};
	int rc;
	*out = NULL;
	pf_buf_init(&b, EXPAND_MAX);
	if ((rc = scan(&b, text, &r, NULL)) < 0) {
		pf_buf_dispose(&b);
		return rc;
	}
	*out = b.data ? pf_buf_detach(&b) : pf_xstrdup("");
	return 0;
}

int pf_interp_check(const char *text, bool has_model, const pf_kv *vars, size_t n_vars, char **bad_name)
{
	resolver r = {has_model, vars, n_vars, NULL};
	if (bad_name)
		*bad_name = NULL;
	return scan(NULL, text, &r, bad_name);
}
