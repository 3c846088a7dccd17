/*
 * Pipeline file (version 1, schemas/pipeline.schema.json) to a validated
 * pf_plan. For `pteflow validate`, `run` and `matrix`: the YAML tree from
 * tree.c is walked key by key; the first problem stops the walk and is
 * reported as FILE:LINE:COL with what is wrong and what would be valid (also
 * in a pf_diag for GitHub annotations). A pipeline is a few KiB: the walk is
 * linear, except the duplicate checks, which sort.
 *
 * Keep the keys, types and patterns here in step with
 * schemas/pipeline.schema.json: tests/cli/test_pipelines_schema.py runs both.
 */
#include "pipeline/pipeline.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/interp.h"
#include "pipeline/tree.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define PL_MAX_DIAGS 50 /* problems collected per file by pf_pipeline_load_all */

typedef struct loader {
	const char *file;
	pf_diag *diag; /* the first problem, or NULL */
	bool collect;  /* keep every problem in `all` (pf_pipeline_load_all) */
	pf_diag *all;
	size_t n_all;
	char *first_error; /* "FILE:LINE:COL: message" of the first problem: stays the last error */
	pf_plan *plan;
} loader;

typedef enum skind { S_NULL, S_BOOL, S_INT, S_FLOAT, S_DATE, S_STR } skind;

static int fail(loader *ld, pf_pos pos, const char *fmt, ...) PF_PRINTF(3, 4);
static int fail(loader *ld, pf_pos pos, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	msg = pf_xmalloc(n > 0 ? (size_t)n + 1 : 1);
	msg[0] = '\0';
	va_start(ap, fmt);
	if (n > 0)
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (!ld->first_error) {
		ld->first_error = pf_xasprintf("%s:%d:%d: %s", ld->file, pos.line, pos.col, msg);
		if (ld->diag) {
			ld->diag->file = pf_xstrdup(ld->file);
			ld->diag->pos = pos;
			ld->diag->message = pf_xstrdup(msg);
		}
	}
	if (ld->collect && ld->n_all < PL_MAX_DIAGS) {
		ld->all = pf_xreallocarray(ld->all, ld->n_all + 1, sizeof(*ld->all));
		ld->all[ld->n_all++] = (pf_diag){pf_xstrdup(ld->file), pos, msg};
		msg = NULL;
	}
	/* later problems never replace the first as the last error */
	pf_error_code(PF_EINVALID, "%s", ld->first_error);
	free(msg);
	return PF_EINVALID;
}

/* Fail at `pos` with the module's last error message as the text. */
static int fail_last(loader *ld, pf_pos pos, const char *prefix)
{
	char *msg = pf_xstrdup(pf_error_last());
	int rc = fail(ld, pos, "%s%s", prefix, msg);
	free(msg);
	return rc;
}

/* ---- scalar types, as YAML 1.1 (PyYAML) resolves plain scalars ---- */

/*
 * Each matcher is one of PyYAML's implicit resolvers (yaml/resolver.py), no
 * more and no less: schemas/pipeline.schema.json is checked on what PyYAML
 * loads, so a plain 1.2.3 must be text here as there, and 2024-01-01 a date.
 */

static bool one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(s, *words))
			return true;
	return false;
}

/* Past the characters of `set` at s (never past the NUL). */
static const char *skip(const char *s, const char *set)
{
	while (*s && strchr(set, *s))
		s++;
	return s;
}

#define DIGITS "0123456789"

static bool is_dig(char c)
{
	return c >= '0' && c <= '9';
}

/* (:[0-5]?[0-9])+ at s: the end of the groups, or NULL. */
static const char *sexagesimal(const char *s)
{
	if (*s != ':')
		return NULL;
	while (*s == ':') {
		s++;
		if (s[0] >= '0' && s[0] <= '5' && is_dig(s[1]))
			s += 2;
		else if (is_dig(s[0]))
			s++;
		else
			return NULL;
	}
	return s;
}

/* [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+ | [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+ */
static bool yaml_int(const char *s)
{
	const char *end;
	if (*s == '-' || *s == '+')
		s++;
	if (s[0] == '0' && s[1] == 'b')
		return s[2] && !*skip(s + 2, "01_");
	if (s[0] == '0' && s[1] == 'x')
		return s[2] && !*skip(s + 2, DIGITS "abcdefABCDEF_");
	if (s[0] == '0')
		return !*skip(s + 1, "01234567_");
	if (s[0] < '1' || s[0] > '9')
		return false;
	end = skip(s + 1, DIGITS "_");
	return !*end || ((end = sexagesimal(end)) && !*end);
}

/* ([eE][-+][0-9]+)? to the end */
static bool exponent_to_end(const char *s)
{
	if (!*s)
		return true;
	if ((*s != 'e' && *s != 'E') || (s[1] != '-' && s[1] != '+') || !is_dig(s[2]))
		return false;
	return !*skip(s + 2, DIGITS);
}

/*
 * [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9][0-9_]*([eE][-+][0-9]+)?
 * | [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)
 */
static bool yaml_float(const char *s)
{
	static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
	static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
	const char *p = s;
	if (one_of(s, nans))
		return true;
	if (*p == '-' || *p == '+')
		p++;
	if (one_of(p, infs))
		return true;
	if (*p == '.')
		return p == s && is_dig(p[1]) && exponent_to_end(skip(p + 1, DIGITS "_"));
	if (!is_dig(*p))
		return false;
	p = skip(p, DIGITS "_");
	if (*p == ':')
		return (p = sexagesimal(p)) && *p == '.' && !*skip(p + 1, DIGITS "_");
	return *p == '.' && exponent_to_end(skip(p + 1, DIGITS "_"));
}

/* Between min and max digits at *s (advanced past them). */
static bool digits(const char **s, int min, int max)
{
	int n = 0;
	while (n < max && is_dig((*s)[n]))
		n++;
	*s += n;
	return n >= min;
}

/*
 * [0-9]{4}-[0-9]{2}-[0-9]{2}
 * | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?
 *   ([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?
 */
static bool yaml_timestamp(const char *s)
{
	const char *p = s;
	if (strlen(s) == 10 && digits(&p, 4, 4) && *p++ == '-' && digits(&p, 2, 2) && *p++ == '-' && digits(&p, 2, 2))
		return true;
	p = s;
	if (!digits(&p, 4, 4) || *p++ != '-' || !digits(&p, 1, 2) || *p++ != '-' || !digits(&p, 1, 2))
		return false;
	if (*p == 'T' || *p == 't')
		p++;
	else if (*p == ' ' || *p == '\t')
		p = skip(p, " \t");
	else
		return false;
	if (!digits(&p, 1, 2) || *p++ != ':' || !digits(&p, 2, 2) || *p++ != ':' || !digits(&p, 2, 2))
		return false;
	if (*p == '.')
		p = skip(p + 1, DIGITS);
	p = skip(p, " \t");
	if (*p == 'Z')
		return !p[1];
	if (*p == '-' || *p == '+') {
		p++;
		if (!digits(&p, 1, 2))
			return false;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, 2))
				return false;
		}
	}
	return !*p;
}

static skind scalar_kind(const pl_node *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {"yes",   "Yes",   "YES", "no", "No", "NO",  "true", "True", "TRUE", "false",
	                                    "False", "FALSE", "on",  "On", "ON", "off", "Off",  "OFF",  NULL};
	if (!n->plain)
		return S_STR;
	if (one_of(n->text, nulls))
		return S_NULL;
	if (one_of(n->text, bools))
		return S_BOOL;
	if (yaml_int(n->text))
		return S_INT;
	if (yaml_float(n->text))
		return S_FLOAT;
	if (yaml_timestamp(n->text))
		return S_DATE;
	return S_STR;
}

/* A plain integer in decimal digits, no sign, no leading zero: what every YAML version reads alike. */
static bool plain_decimal(const char *s)
{
	return is_dig(*s) && !*skip(s, DIGITS) && (s[0] != '0' || !s[1]);
}

static const char *type_name(const pl_node *n)
{
	if (n->type == PL_MAP)
		return "a mapping";
	if (n->type == PL_SEQ)
		return "a list";
	switch (scalar_kind(n)) {
	case S_NULL:
		return "nothing (null)";
	case S_BOOL:
		return "a boolean";
	case S_INT:
		return "an integer";
	case S_FLOAT:
		return "a number";
	case S_DATE:
		return "a date";
	default:
		return "text";
	}
}

/* ---- mapping helpers ---- */

static const pl_node *map_get(const pl_node *map, const char *key, const pl_node **key_node)
{
	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		if (!strcmp(map->kids[i]->text, key)) {
			if (key_node)
				*key_node = map->kids[i];
			return map->kids[i + 1];
		}
	}
	return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row;
	size_t result;
	if (la > 64)
		return la; /* nothing that long is a near miss of a key */
	row = pf_xcalloc(lb + 1, sizeof(*row));
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	result = row[lb];
	free(row);
	return result;
}

static char *join_words(const char *const *words)
{
	pf_buf b;
	pf_buf_init(&b, 4096);
	for (size_t i = 0; words[i]; i++)
		pf_buf_printf(&b, "%s%s", i ? ", " : "", words[i]);
	return b.data ? pf_buf_detach(&b) : pf_xstrdup("");
}

/* Suggestion for `word` among `words` (NULL-terminated), or NULL. */
static const char *did_you_mean(const char *word, const char *const *words)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	size_t limit = strlen(word) <= 3 ? 1 : strlen(word) <= 6 ? 2 : 3;
	for (size_t i = 0; words[i]; i++) {
		size_t d = edit_distance(word, words[i]);
		if (d < best_d) {
			best_d = d;
			best = words[i];
		}
	}
	return best_d <= limit ? best : NULL;
}

/* true when a key of `map` outside `keys` is a near miss of `key` (already reported as unknown). */
static bool misspelled(const pl_node *map, const char *key, const char *const *keys)
{
	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const char *sug;
		if (one_of(map->kids[i]->text, keys))
			continue;
		sug = did_you_mean(map->kids[i]->text, keys);
		if (sug && !strcmp(sug, key))
			return true;
	}
	return false;
}

/*
 * `what` must be a mapping (else PF_EINVALID) whose keys are all in `keys`,
 * each once. Unknown and repeated keys are reported but return 0: the rest
 * of the mapping is still checked (map_get ignores them), and the recorded
 * problem fails the parse in the end (parse_with).
 */
static int check_map(loader *ld, const pl_node *n, const char *what, const char *const *keys)
{
	const pl_node *first[16] = {NULL};
	if (n->type != PL_MAP)
		return fail(ld, n->pos, "%s must be a mapping (key: value), got %s", what, type_name(n));
	for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
		const pl_node *k = n->kids[i];
		size_t idx = 0;
		while (keys[idx] && strcmp(keys[idx], k->text))
			idx++;
		if (!keys[idx]) {
			char *list = join_words(keys);
			const char *sug = did_you_mean(k->text, keys);
			if (sug)
				fail(ld, k->pos, "unknown key \"%.80s\" in %s: did you mean \"%s\"? (valid keys: %s)",
				     k->text, what, sug, list);
			else
				fail(ld, k->pos, "unknown key \"%.80s\" in %s: valid keys are %s", k->text, what, list);
			free(list);
			continue;
		}
		if (idx < 16 && first[idx]) {
			fail(ld, k->pos,
			     "duplicate key \"%s\" in %s: it is already set at line %d, column %d; keep one", k->text,
			     what, first[idx]->pos.line, first[idx]->pos.col);
			continue;
		}
		if (idx < 16)
			first[idx] = k;
	}
	return 0;
}

typedef struct named {
	const char *name;
	const pl_node *node;
	size_t index;
} named;

static int cmp_named(const void *a, const void *b)
{
	const named *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * The first (in document order) repeated name among `items`, by sorting:
 * user-keyed mappings and name lists may hold thousands of entries.
 */
static int check_unique(loader *ld, named *items, size_t n, const char *what)
{
	const named *dup = NULL, *orig = NULL;
	if (n < 2)
		return 0;
	qsort(items, n, sizeof(*items), cmp_named);
	for (size_t i = 1; i < n; i++) {
		if (!strcmp(items[i].name, items[i - 1].name) && (!dup || items[i].index < dup->index)) {
			size_t j = i - 1;
			while (j > 0 && !strcmp(items[j - 1].name, items[i].name))
				j--;
			dup = &items[i];
			orig = &items[j];
		}
	}
	if (dup)
		return fail(ld, dup->node->pos,
		            "duplicate %s \"%.80s\": it is already used at line %d, column %d; "
		            "names must be unique",
		            what, dup->name, orig->node->pos.line, orig->node->pos.col);
	return 0;
}

/* ---- typed values ---- */

/* The fix for a scalar of the wrong type: an empty value wants one, anything else quotes to be text. */
static const char *type_fix(const pl_node *n)
{
	if (n->type != PL_SCALAR)
		return "";
	return scalar_kind(n) == S_NULL ? ": give it a value or remove it" : ": put it in quotes";
}

static int want_string(loader *ld, const pl_node *n, const char *key, bool allow_empty, char **out)
{
	if (n->type != PL_SCALAR || scalar_kind(n) != S_STR)
		return fail(ld, n->pos, "\"%s\" must be text, got %s%s", key, type_name(n), type_fix(n));
	if (!allow_empty && !n->text[0])
		return fail(ld, n->pos, "\"%s\" must not be empty: give a value or remove the key", key);
	*out = pf_xstrdup(n->text);
	return 0;
}

/* Any scalar but null or a date (the schema's string, number or boolean), as text (argv, env and vars values). */
static int want_scalar_text(loader *ld, const pl_node *n, const char *key, char **out)
{
	if (n->type != PL_SCALAR || scalar_kind(n) == S_NULL || scalar_kind(n) == S_DATE)
		return fail(ld, n->pos, "\"%s\" must be text, a number or a boolean, got %s%s", key, type_name(n),
		            type_fix(n));
	*out = pf_xstrdup(n->text);
	return 0;
}

static bool name_ok(const char *s)
{
	if (!isalnum((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

static bool ident_ok(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static int want_name(loader *ld, const pl_node *n, const char *key, char **out)
{
	int rc = want_string(ld, n, key, false, out);
	if (rc < 0)
		return rc;
	if (strlen(*out) > 128 || !name_ok(*out)) {
		free(*out);
		*out = NULL;
		return fail(ld, n->pos,
		            "invalid %s \"%.80s\": use letters, digits, '.', '_' and '-', starting with a "
		            "letter or digit (at most 128)",
		            key, n->text);
	}
	return 0;
}

/* A relative path inside the output folder: not absolute, no "..", no empty or "." parts. */
static int want_rel_path(loader *ld, const pl_node *n, const char *key, char **out)
{
	const char *p;
	int rc = want_string(ld, n, key, false, out);
	if (rc < 0)
		return rc;
	p = *out;
	if (p[0] == '/')
		goto bad_abs;
	for (const char *part = p; part;) {
		const char *slash = strchr(part, '/');
		size_t len = slash ? (size_t)(slash - part) : strlen(part);
		if ((len == 2 && part[0] == '.' && part[1] == '.'))
			goto bad_dots;
		if (len == 0 || (len == 1 && part[0] == '.'))
			goto bad_form;
		part = slash ? slash + 1 : NULL;
	}
	if (strchr(p, '\\') || strstr(p, "${"))
		goto bad_form;
	return 0;
bad_abs:
	rc = fail(ld, n->pos, "%s \"%.80s\" is absolute: write it relative to the output folder, e.g. model.pte", key,
	          p);
	goto done;
bad_dots:
	rc = fail(ld, n->pos, "%s \"%.80s\" contains \"..\": it must stay inside the output folder", key, p);
	goto done;
bad_form:
	rc = fail(ld, n->pos,
	          "%s \"%.80s\" is not a plain relative path: use names separated by single '/', without \".\", "
	          "\"\\\" or ${...}",
	          key, p);
done:
	free(*out);
	*out = NULL;
	return rc;
}

static int want_bool(loader *ld, const pl_node *n, const char *key, bool *out)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off", NULL};
	if (n->type != PL_SCALAR || scalar_kind(n) != S_BOOL)
		return fail(ld, n->pos, "\"%s\" must be true or false, got %s%s", key, type_name(n),
		            n->type == PL_SCALAR && !n->plain && one_of(n->text, words) ? ": write it without quotes"
		                                                                        : "");
	*out =
	    strchr("yYtToO", n->text[0]) && strcmp(n->text, "off") && strcmp(n->text, "Off") && strcmp(n->text, "OFF");
	return 0;
}

static int want_size(loader *ld, const pl_node *n, const char *key, bool positive, uint64_t *out)
{
	skind k;
	if (n->type != PL_SCALAR)
		return fail(ld, n->pos, "\"%s\" must be a size such as 1.5GB or 6GiB, got %s", key, type_name(n));
	k = scalar_kind(n);
	if (k == S_FLOAT)
		return fail(ld, n->pos, "\"%s\": %.40s has no unit: write e.g. %.40sGB or %.40sGiB", key, n->text,
		            n->text, n->text);
	/* PyYAML reads 010 as 8 and YAML 1.2 as 10, 1_000 as 1000 or as text: refuse rather than guess */
	if (k == S_INT && n->text[0] != '-' && !plain_decimal(n->text))
		return fail(
		    ld, n->pos,
		    "\"%s\": %.40s is an integer in a YAML 1.1 notation (leading 0, 0x, 0b, _, : or +) that "
		    "YAML readers read differently: write plain decimal digits, e.g. 1000000, or a unit, e.g. 1MB",
		    key, n->text);
	if (k != S_INT && k != S_STR)
		return fail(ld, n->pos, "\"%s\" must be a size such as 1.5GB or 6GiB, got %s", key, type_name(n));
	if (pf_parse_size(out, n->text) < 0) {
		char *prefix = pf_xasprintf("\"%s\": ", key);
		int rc = fail_last(ld, n->pos, prefix);
		free(prefix);
		return rc;
	}
	if (positive && *out == 0)
		return fail(ld, n->pos, "\"%s\" must be greater than 0: remove the key to set no limit", key);
	return 0;
}

static int want_duration(loader *ld, const pl_node *n, const char *key, uint64_t *out)
{
	if (n->type != PL_SCALAR || (scalar_kind(n) != S_STR && scalar_kind(n) != S_INT))
		return fail(ld, n->pos, "\"%s\" must be a duration such as 90s, 30m or 1h30m, got %s", key,
		            type_name(n));
	if (scalar_kind(n) == S_INT && plain_decimal(n->text))
		return fail(ld, n->pos, "\"%s\": %.40s has no unit: write e.g. %.40ss or %.40sm", key, n->text, n->text,
		            n->text);
	if (scalar_kind(n) == S_INT)
		return fail(ld, n->pos,
		            "\"%s\" must be a duration such as 90s, 30m or 1h30m, got %.40s (YAML reads it "
		            "as a number)",
		            key, n->text);
	if (pf_parse_duration(out, n->text) < 0) {
		char *prefix = pf_xasprintf("\"%s\": ", key);
		int rc = fail_last(ld, n->pos, prefix);
		free(prefix);
		return rc;
	}
	if (*out == 0)
		return fail(ld, n->pos, "\"%s\" must be greater than 0: remove the key to set no timeout", key);
	return 0;
}

static int want_list(loader *ld, const pl_node *n, const char *key, bool non_empty)
{
	if (n->type != PL_SEQ)
		return fail(ld, n->pos, "\"%s\" must be a list, got %s", key, type_name(n));
	if (non_empty && n->n_kids == 0)
		return fail(ld, n->pos, "\"%s\" must not be empty: list at least one entry", key);
	return 0;
}

static int want_string_list(loader *ld, const pl_node *n, const char *key, char ***out, size_t *n_out)
{
	int rc = want_list(ld, n, key, false);
	if (rc < 0)
		return rc;
	*out = pf_xcalloc(n->n_kids ? n->n_kids : 1, sizeof(char *));
	*n_out = 0;
	for (size_t i = 0; i < n->n_kids; i++) {
		if ((rc = want_string(ld, n->kids[i], key, false, &(*out)[i])) < 0)
			return rc;
		*n_out = i + 1;
	}
	return 0;
}

static int check_interp(loader *ld, const pl_node *n)
{
	const pf_plan *p = ld->plan;
	if (pf_interp_check(n->text, p->model != NULL, p->vars, p->n_vars, NULL) < 0)
		return fail_last(ld, n->pos, "");
	return 0;
}

/* A mapping of NAME: scalar (vars, env). */
static int want_kv_map(loader *ld, const pl_node *n, const char *what, pf_kv **out, size_t *n_out)
{
	named *names = NULL;
	size_t count;
	int rc = 0;
	if (n->type != PL_MAP)
		return fail(ld, n->pos, "\"%s\" must be a mapping (NAME: value), got %s", what, type_name(n));
	count = n->n_kids / 2;
	*out = pf_xcalloc(count ? count : 1, sizeof(pf_kv));
	*n_out = 0;
	names = pf_xcalloc(count ? count : 1, sizeof(*names));
	for (size_t i = 0; i < count; i++) {
		const pl_node *k = n->kids[2 * i], *v = n->kids[2 * i + 1];
		pf_kv *kv = &(*out)[i];
		if (!ident_ok(k->text) || strlen(k->text) > 128) {
			rc = fail(ld, k->pos,
			          "invalid name \"%.80s\" in %s: use letters, digits and _, not starting with a "
			          "digit",
			          k->text, what);
			goto done;
		}
		kv->key = pf_xstrdup(k->text);
		kv->pos = k->pos;
		*n_out = i + 1;
		if ((rc = want_scalar_text(ld, v, k->text, &kv->value)) < 0)
			goto done;
		names[i] = (named){k->text, k, i};
	}
	rc = check_unique(ld, names, count, "key");
done:
	free(names);
	return rc;
}

/* ---- sections ---- */

static const char *const limit_keys[] = {"memory", "timeout", "expect", NULL};

static int parse_limits(loader *ld, const pl_node *n, const char *what, pf_limits *out)
{
	const pl_node *v;
	int rc = check_map(ld, n, what, limit_keys);
	if (rc < 0)
		return rc;
	out->pos = n->pos;
	if ((v = map_get(n, "memory", NULL)) && (rc = want_size(ld, v, "memory", true, &out->memory_bytes)) < 0)
		return rc;
	if ((v = map_get(n, "timeout", NULL)) && (rc = want_duration(ld, v, "timeout", &out->timeout_ms)) < 0)
		return rc;
	if ((v = map_get(n, "expect", NULL)) && (rc = want_size(ld, v, "expect", true, &out->expect_bytes)) < 0)
		return rc;
	return 0;
}

static const char *const model_keys[] = {"hf", "revision", "repo_type", "include", "exclude", NULL};
static const char *const repo_types[] = {"model", "dataset", "space", NULL};

static bool repo_id_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	if (strstr(s, "..") || strstr(s, "--") || strlen(s) > 200)
		return false;
	if (slash && (strchr(slash + 1, '/') || !isalnum((unsigned char)slash[1])))
		return false;
	if (!isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-/", *s))
			return false;
	return true;
}

static int parse_model(loader *ld, const pl_node *n, pf_model_source **out)
{
	const pl_node *v;
	pf_model_source *m;
	int rc = check_map(ld, n, "model", model_keys);
	if (rc < 0)
		return rc;
	m = *out = pf_xcalloc(1, sizeof(*m));
	m->pos = n->pos;
	if (!(v = map_get(n, "hf", NULL)) && misspelled(n, "hf", model_keys))
		return PF_EINVALID; /* reported as an unknown key with the suggestion */
	if (!v)
		return fail(ld, n->pos,
		            "model is missing required key \"hf\": add hf: ORG/NAME (a Hugging Face repo id)");
	if ((rc = want_string(ld, v, "hf", false, &m->hf)) < 0)
		return rc;
	if (!repo_id_ok(m->hf))
		return fail(ld, v->pos,
		            "invalid Hugging Face repo id \"%.80s\": write ORG/NAME, e.g. "
		            "meta-llama/Llama-3.2-1B-Instruct",
		            m->hf);
	if ((v = map_get(n, "revision", NULL))) {
		if ((rc = want_string(ld, v, "revision", false, &m->revision)) < 0)
			return rc;
	} else {
		m->revision = pf_xstrdup("main");
	}
	if ((v = map_get(n, "repo_type", NULL))) {
		if ((rc = want_string(ld, v, "repo_type", false, &m->repo_type)) < 0)
			return rc;
		if (!one_of(m->repo_type, repo_types))
			return fail(ld, v->pos, "invalid repo_type \"%.80s\": use model, dataset or space",
			            m->repo_type);
	} else {
		m->repo_type = pf_xstrdup("model");
	}
	if ((v = map_get(n, "include", NULL)) &&
	    (rc = want_string_list(ld, v, "include", &m->include, &m->n_include)) < 0)
		return rc;
	if ((v = map_get(n, "exclude", NULL)) &&
	    (rc = want_string_list(ld, v, "exclude", &m->exclude, &m->n_exclude)) < 0)
		return rc;
	return 0;
}

static const char *const step_keys[] = {"name", "run", "shell", "env", "cwd", "limits", "inputs", "cache", NULL};

static int parse_run(loader *ld, const pl_node *v, pf_step *s)
{
	int rc;
	if (s->shell) {
		if (v->type != PL_SCALAR || scalar_kind(v) != S_STR || !v->text[0])
			return fail(ld, v->pos, "with shell: true, \"run\" must be one command line as text, got %s",
			            v->type == PL_SCALAR && !v->text[0] ? "empty text" : type_name(v));
		s->argv = pf_xcalloc(1, sizeof(char *));
		s->argv[0] = pf_xstrdup(v->text);
		s->n_argv = 1;
		return check_interp(ld, v);
	}
	if (v->type == PL_SCALAR && scalar_kind(v) == S_STR)
		return fail(ld, v->pos,
		            "\"run\" is a single string: give an argv list [PROGRAM, ARG...], or set "
		            "shell: true to run it with /bin/sh -c");
	if ((rc = want_list(ld, v, "run", true)) < 0)
		return rc;
	s->argv = pf_xcalloc(v->n_kids, sizeof(char *));
	for (size_t i = 0; i < v->n_kids; i++) {
		if ((rc = want_scalar_text(ld, v->kids[i], "run", &s->argv[i])) < 0)
			return rc;
		s->n_argv = i + 1;
		if ((rc = check_interp(ld, v->kids[i])) < 0)
			return rc;
	}
	if (!s->argv[0][0])
		return fail(ld, v->kids[0]->pos,
		            "the program (first entry of \"run\") must not be empty: name the program to run");
	return 0;
}

static void merge_limits(pf_limits *into, const pf_limits *defaults)
{
	if (!into->memory_bytes)
		into->memory_bytes = defaults->memory_bytes;
	if (!into->timeout_ms)
		into->timeout_ms = defaults->timeout_ms;
	if (!into->expect_bytes)
		into->expect_bytes = defaults->expect_bytes;
}

static int parse_step(loader *ld, const pl_node *n, pf_step *s)
{
	const pl_node *v;
	int rc = check_map(ld, n, "step", step_keys);
	if (rc < 0)
		return rc;
	s->pos = n->pos;
	if (!(v = map_get(n, "name", NULL)) && misspelled(n, "name", step_keys))
		return PF_EINVALID;
	if (!v)
		return fail(ld, n->pos,
		            "step is missing required key \"name\": add name: export (a short unique name)");
	if ((rc = want_name(ld, v, "step name", &s->name)) < 0)
		return rc;
	if ((v = map_get(n, "shell", NULL)) && (rc = want_bool(ld, v, "shell", &s->shell)) < 0)
		return rc;
	if (!(v = map_get(n, "run", NULL)) && misspelled(n, "run", step_keys))
		return PF_EINVALID;
	if (!v)
		return fail(ld, n->pos, "step \"%s\" is missing required key \"run\": add run: [PROGRAM, ARG...]",
		            s->name);
	if ((rc = parse_run(ld, v, s)) < 0)
		return rc;
	if ((v = map_get(n, "env", NULL))) {
		if ((rc = want_kv_map(ld, v, "env", &s->env, &s->n_env)) < 0)
			return rc;
		for (size_t i = 0; i < s->n_env; i++)
			if ((rc = check_interp(ld, v->kids[2 * i + 1])) < 0)
				return rc;
	}
	if ((v = map_get(n, "cwd", NULL))) {
		if ((rc = want_string(ld, v, "cwd", false, &s->cwd)) < 0 || (rc = check_interp(ld, v)) < 0)
			return rc;
	}
	if ((v = map_get(n, "limits", NULL)) && (rc = parse_limits(ld, v, "step limits", &s->limits)) < 0)
		return rc;
	merge_limits(&s->limits, &ld->plan->limits);
	if ((v = map_get(n, "inputs", NULL))) {
		if ((rc = want_string_list(ld, v, "inputs", &s->inputs, &s->n_inputs)) < 0)
			return rc;
		for (size_t i = 0; i < s->n_inputs; i++)
			if ((rc = check_interp(ld, v->kids[i])) < 0)
				return rc;
	}
	s->cache = true;
	if ((v = map_get(n, "cache", NULL)) && (rc = want_bool(ld, v, "cache", &s->cache)) < 0)
		return rc;
	return 0;
}

static const char *const artifact_keys[] = {"path",    "kind",     "max_size", "min_size",
                                            "methods", "backends", "data",     NULL};
static const char *const override_keys[] = {"path", "max_size", "min_size", "methods", "backends", "data", NULL};

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static int parse_artifact(loader *ld, const pl_node *n, pf_artifact *a, bool override)
{
	const pl_node *v, *key;
	const char *what = override ? "target artifact" : "artifact";
	int rc = check_map(ld, n, what, override ? override_keys : artifact_keys);
	if (rc < 0)
		return rc;
	a->pos = n->pos;
	if (!(v = map_get(n, "path", NULL)) && misspelled(n, "path", artifact_keys))
		return PF_EINVALID;
	if (!v)
		return fail(ld, n->pos,
		            "%s is missing required key \"path\": add path: model.pte (relative to the output "
		            "folder)",
		            what);
	if ((rc = want_rel_path(ld, v, "artifact path", &a->path)) < 0)
		return rc;
	a->kind = ends_with(a->path, ".pte")   ? PF_ARTIFACT_PTE
	          : ends_with(a->path, ".ptd") ? PF_ARTIFACT_PTD
	                                       : PF_ARTIFACT_FILE;
	if ((v = map_get(n, "kind", NULL))) {
		static const char *const kinds[] = {"pte", "ptd", "file", NULL};
		if (v->type != PL_SCALAR || scalar_kind(v) != S_STR || !one_of(v->text, kinds))
			return fail(ld, v->pos, "invalid kind \"%.80s\": use pte, ptd or file", v->text ? v->text : "");
		a->kind = !strcmp(v->text, "pte")   ? PF_ARTIFACT_PTE
		          : !strcmp(v->text, "ptd") ? PF_ARTIFACT_PTD
		                                    : PF_ARTIFACT_FILE;
		a->set |= PF_ARTIFACT_SET_KIND;
	}
	if ((v = map_get(n, "max_size", NULL))) {
		if ((rc = want_size(ld, v, "max_size", true, &a->max_size)) < 0)
			return rc;
		a->set |= PF_ARTIFACT_SET_MAX_SIZE;
	}
	if ((v = map_get(n, "min_size", NULL))) {
		if ((rc = want_size(ld, v, "min_size", false, &a->min_size)) < 0)
			return rc;
		a->set |= PF_ARTIFACT_SET_MIN_SIZE;
	}
	if (a->max_size && a->min_size > a->max_size)
		return fail(
		    ld, v->pos,
		    "min_size is larger than max_size: no file can pass both gates; lower min_size or raise max_size");
	if ((v = map_get(n, "methods", &key))) {
		if ((rc = want_string_list(ld, v, "methods", &a->methods, &a->n_methods)) < 0)
			return rc;
		a->set |= PF_ARTIFACT_SET_METHODS;
	}
	if ((v = map_get(n, "backends", &key))) {
		if ((rc = want_string_list(ld, v, "backends", &a->backends, &a->n_backends)) < 0)
			return rc;
		a->set |= PF_ARTIFACT_SET_BACKENDS;
	}
	if ((v = map_get(n, "data", &key))) {
		if ((rc = want_list(ld, v, "data", false)) < 0)
			return rc;
		a->data = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(char *));
		for (size_t i = 0; i < v->n_kids; i++) {
			if ((rc = want_rel_path(ld, v->kids[i], "data path", &a->data[i])) < 0)
				return rc;
			a->n_data = i + 1;
		}
		a->set |= PF_ARTIFACT_SET_DATA;
	}
	if (!override && a->kind != PF_ARTIFACT_PTE) {
		const char *bad = map_get(n, "methods", &key)    ? "methods"
		                  : map_get(n, "backends", &key) ? "backends"
		                  : map_get(n, "data", &key)     ? "data"
		                                                 : NULL;
		if (bad)
			return fail(ld, key->pos, "\"%s\" applies to .pte artifacts only: set kind: pte or remove it",
			            bad);
	}
	return 0;
}

static const pf_artifact *find_artifact(const pf_plan *p, const char *path)
{
	for (size_t i = 0; i < p->n_artifacts; i++)
		if (!strcmp(p->artifacts[i].path, path))
			return &p->artifacts[i];
	return NULL;
}

/* Each data: entry names a .ptd artifact of this pipeline. */
static int check_data_refs(loader *ld, const pl_node *list)
{
	const pf_plan *p = ld->plan;
	for (size_t i = 0; i < p->n_artifacts; i++) {
		const pf_artifact *a = &p->artifacts[i];
		const pl_node *dn = map_get(list->kids[i], "data", NULL);
		for (size_t j = 0; j < a->n_data; j++) {
			const pf_artifact *d = find_artifact(p, a->data[j]);
			if (!d)
				return fail(ld, dn->kids[j]->pos,
				            "\"%s\" in data is not an artifact of this pipeline: list it "
				            "under artifacts with kind: ptd",
				            a->data[j]);
			if (d->kind != PF_ARTIFACT_PTD)
				return fail(ld, dn->kids[j]->pos,
				            "\"%s\" in data is not a .ptd artifact: give it kind: ptd", a->data[j]);
		}
	}
	return 0;
}

static const char *const target_keys[] = {"name", "vars", "limits", "artifacts", "runner", NULL};

static int parse_target(loader *ld, const pl_node *n, pf_target *t)
{
	const pl_node *v;
	named *paths = NULL;
	int rc = check_map(ld, n, "target", target_keys);
	if (rc < 0)
		return rc;
	t->pos = n->pos;
	if (!(v = map_get(n, "name", NULL)) && misspelled(n, "name", target_keys))
		return PF_EINVALID;
	if (!v)
		return fail(ld, n->pos,
		            "target is missing required key \"name\": add name: int8-seq512 (a short unique name)");
	if ((rc = want_name(ld, v, "target name", &t->name)) < 0)
		return rc;
	if ((v = map_get(n, "vars", NULL))) {
		if ((rc = want_kv_map(ld, v, "target vars", &t->vars, &t->n_vars)) < 0)
			return rc;
		for (size_t i = 0; i < t->n_vars; i++) {
			bool known = false;
			for (size_t j = 0; j < ld->plan->n_vars; j++)
				known = known || !strcmp(ld->plan->vars[j].key, t->vars[i].key);
			if (!known)
				return fail(ld, t->vars[i].pos,
				            "target variable \"%s\" is not declared in the pipeline's vars: "
				            "declare it there with a default value",
				            t->vars[i].key);
		}
	}
	if ((v = map_get(n, "limits", NULL)) && (rc = parse_limits(ld, v, "target limits", &t->limits)) < 0)
		return rc;
	if ((v = map_get(n, "runner", NULL)) && (rc = want_string(ld, v, "runner", false, &t->runner)) < 0)
		return rc;
	if ((v = map_get(n, "artifacts", NULL))) {
		if ((rc = want_list(ld, v, "artifacts", false)) < 0)
			return rc;
		t->artifacts = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(pf_artifact));
		paths = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(*paths));
		for (size_t i = 0; i < v->n_kids; i++) {
			pf_artifact *a = &t->artifacts[i];
			t->n_artifacts = i + 1;
			if ((rc = parse_artifact(ld, v->kids[i], a, true)) < 0)
				goto done;
			if (!find_artifact(ld->plan, a->path)) {
				rc = fail(ld, map_get(v->kids[i], "path", NULL)->pos,
				          "target artifact \"%s\" is not an artifact of the pipeline: a target only "
				          "overrides the gates of listed artifacts",
				          a->path);
				goto done;
			}
			paths[i] = (named){a->path, map_get(v->kids[i], "path", NULL), i};
		}
		rc = check_unique(ld, paths, v->n_kids, "target artifact path");
	}
done:
	free(paths);
	return rc;
}

static const char *const root_keys[] = {"version", "name",      "description", "model",    "vars", "limits",
                                        "steps",   "artifacts", "targets",     "manifest", NULL};

static int parse_version(loader *ld, const pl_node *root)
{
	const pl_node *v = map_get(root, "version", NULL);
	if (!v)
		return fail(ld, root->pos, "missing required key \"version\": add version: 1 at the top of the file");
	if (v->type != PL_SCALAR || scalar_kind(v) != S_INT)
		return fail(ld, v->pos, "\"version\" must be the integer 1, got %s%s", type_name(v),
		            v->type == PL_SCALAR && !v->plain ? ": write version: 1 without quotes" : "");
	if (strcmp(v->text, "1"))
		return fail(ld, v->pos, "unsupported version %.20s: this pteflow reads version 1", v->text);
	ld->plan->version = 1;
	return 0;
}

/* Keep the first failure in *first and go on: validate reports independent problems together. */
static int keep(int *first, int rc)
{
	if (rc < 0 && *first == 0)
		*first = rc;
	return rc;
}

static int parse_steps(loader *ld, const pl_node *root)
{
	pf_plan *p = ld->plan;
	const pl_node *v = map_get(root, "steps", NULL);
	named *names;
	size_t n_ok = 0;
	int first = 0;
	if (!v && misspelled(root, "steps", root_keys))
		return PF_EINVALID; /* reported as an unknown key with the suggestion */
	if (!v)
		return fail(ld, root->pos,
		            "missing required key \"steps\": add steps: with at least one step "
		            "(name and run)");
	if (keep(&first, want_list(ld, v, "steps", true)) < 0)
		return first;
	p->steps = pf_xcalloc(v->n_kids, sizeof(pf_step));
	names = pf_xcalloc(v->n_kids, sizeof(*names));
	for (size_t i = 0; i < v->n_kids; i++) {
		p->n_steps = i + 1;
		keep(&first, parse_step(ld, v->kids[i], &p->steps[i]));
		if (p->steps[i].name) /* a step with another problem still claims its name */
			names[n_ok++] = (named){p->steps[i].name, map_get(v->kids[i], "name", NULL), i};
	}
	keep(&first, check_unique(ld, names, n_ok, "step name"));
	free(names);
	return first;
}

static int parse_artifacts(loader *ld, const pl_node *root)
{
	pf_plan *p = ld->plan;
	const pl_node *v = map_get(root, "artifacts", NULL);
	named *names;
	size_t n_ok = 0;
	int first = 0;
	if (!v)
		return 0;
	if (keep(&first, want_list(ld, v, "artifacts", false)) < 0)
		return first;
	p->artifacts = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(pf_artifact));
	names = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(*names));
	for (size_t i = 0; i < v->n_kids; i++) {
		p->n_artifacts = i + 1;
		keep(&first, parse_artifact(ld, v->kids[i], &p->artifacts[i], false));
		if (p->artifacts[i].path)
			names[n_ok++] = (named){p->artifacts[i].path, map_get(v->kids[i], "path", NULL), i};
	}
	keep(&first, check_unique(ld, names, n_ok, "artifact path"));
	if (first == 0) /* cross-references need every artifact */
		keep(&first, check_data_refs(ld, v));
	free(names);
	return first;
}

static int parse_targets(loader *ld, const pl_node *root)
{
	pf_plan *p = ld->plan;
	const pl_node *v = map_get(root, "targets", NULL);
	named *names;
	size_t n_ok = 0;
	int first = 0;
	if (!v)
		return 0;
	if (keep(&first, want_list(ld, v, "targets", true)) < 0)
		return first;
	p->targets = pf_xcalloc(v->n_kids, sizeof(pf_target));
	names = pf_xcalloc(v->n_kids, sizeof(*names));
	for (size_t i = 0; i < v->n_kids; i++) {
		p->n_targets = i + 1;
		keep(&first, parse_target(ld, v->kids[i], &p->targets[i]));
		if (p->targets[i].name)
			names[n_ok++] = (named){p->targets[i].name, map_get(v->kids[i], "name", NULL), i};
	}
	keep(&first, check_unique(ld, names, n_ok, "target name"));
	free(names);
	return first;
}

/*
 * Sections are checked one by one and each problem is reported; a section
 * that depends on one that failed (steps and targets on vars and model,
 * targets on artifacts) is skipped rather than reported with false errors.
 */
static int parse_root(loader *ld, const pl_node *root)
{
	pf_plan *p = ld->plan;
	const pl_node *v;
	int first = 0, rc_vars = 0, rc_arts;
	if (!root)
		return fail(ld, (pf_pos){1, 1}, "the file is empty: a pipeline starts with version: 1, name and steps");
	if (root->type != PL_MAP)
		return fail(ld, root->pos, "a pipeline must be a mapping (version: 1, name: ..., steps: ...), got %s",
		            type_name(root));
	if (keep(&first, parse_version(ld, root)) < 0)
		return first; /* another version: its keys mean something else */
	keep(&first, check_map(ld, root, "the pipeline", root_keys));
	if (!(v = map_get(root, "name", NULL)))
		keep(&first, misspelled(root, "name", root_keys)
		                 ? PF_EINVALID
		                 : fail(ld, root->pos, "missing required key \"name\": add name: my-pipeline"));
	else
		keep(&first, want_name(ld, v, "pipeline name", &p->name));
	if ((v = map_get(root, "description", NULL)))
		keep(&first, want_string(ld, v, "description", true, &p->description));
	if ((v = map_get(root, "vars", NULL)))
		rc_vars = keep(&first, want_kv_map(ld, v, "vars", &p->vars, &p->n_vars));
	if ((v = map_get(root, "model", NULL)) && keep(&first, parse_model(ld, v, &p->model)) < 0)
		rc_vars = PF_EINVALID;
	if ((v = map_get(root, "limits", NULL)))
		keep(&first, parse_limits(ld, v, "limits", &p->limits));
	if (rc_vars == 0)
		keep(&first, parse_steps(ld, root));
	rc_arts = keep(&first, parse_artifacts(ld, root));
	if (rc_vars == 0 && rc_arts == 0)
		keep(&first, parse_targets(ld, root));
	if ((v = map_get(root, "manifest", NULL)))
		keep(&first, want_rel_path(ld, v, "manifest", &p->manifest));
	else
		p->manifest = pf_xstrdup("manifest.json");
	return first;
}

/* ---- public ---- */

static int parse_with(loader *ld, pf_plan **out, const char *data, size_t len)
{
	pl_node *root = NULL;
	pf_pos pos = {1, 1};
	char *msg = NULL;
	int rc;
	ld->plan = pf_xcalloc(1, sizeof(pf_plan));
	ld->plan->path = pf_xstrdup(ld->file);
	if (len > PL_MAX_FILE_BYTES) {
		rc = fail(ld, pos,
		          "the file is larger than %zu KiB: a pipeline is a small file; check that this is "
		          "the right file",
		          PL_MAX_FILE_BYTES / 1024);
		goto done;
	}
	if ((rc = pl_tree_parse(&root, data, len, &pos, &msg)) < 0) {
		rc = fail(ld, pos, "%s", msg);
		goto done;
	}
	if ((rc = parse_root(ld, root)) < 0)
		goto done;
	if (ld->first_error) { /* a problem was reported and the walk went on */
		rc = PF_EINVALID;
		goto done;
	}
	*out = ld->plan;
	ld->plan = NULL;
done:
	free(msg);
	pl_tree_free(root);
	pf_plan_free(ld->plan);
	ld->plan = NULL;
	if (rc < 0 && ld->first_error)
		pf_error_code(PF_EINVALID, "%s", ld->first_error);
	free(ld->first_error);
	ld->first_error = NULL;
	return rc;
}

int pf_pipeline_parse(pf_plan **out, const char *name, const char *data, size_t len, pf_diag *diag)
{
	loader ld;
	memset(&ld, 0, sizeof(ld));
	ld.file = name;
	ld.diag = diag;
	*out = NULL;
	if (diag)
		memset(diag, 0, sizeof(*diag));
	return parse_with(&ld, out, data, len);
}

/* Read and parse `ld->file`; a file that cannot be read gets one diag without position. */
static int load_with(loader *ld, pf_plan **out)
{
	pf_buf b;
	int rc;
	*out = NULL;
	pf_buf_init(&b, PL_MAX_FILE_BYTES + 1);
	if (pf_fs_is_dir(ld->file))
		rc = pf_error_code(PF_EENV,
		                   "\"%s\" is a folder, not a pipeline file: give the path of a pipeline file, "
		                   "e.g. pipelines/demo.yaml",
		                   ld->file);
	else
		rc = pf_fs_read_file(&b, ld->file, PL_MAX_FILE_BYTES);
	if (rc == PF_ELIMIT) {
		rc = parse_with(ld, out, "", PL_MAX_FILE_BYTES + 1); /* reports the size bound */
	} else if (rc < 0) {
		if (rc != PF_ENOTFOUND)
			rc = PF_EENV;
		if (ld->diag) {
			ld->diag->file = pf_xstrdup(ld->file);
			ld->diag->message = pf_xstrdup(pf_error_last());
		}
		if (ld->collect) {
			ld->all = pf_xcalloc(1, sizeof(*ld->all));
			ld->all[0] = (pf_diag){pf_xstrdup(ld->file), {0, 0}, pf_xstrdup(pf_error_last())};
			ld->n_all = 1;
		}
	} else {
		rc = parse_with(ld, out, b.data ? b.data : "", b.len);
	}
	pf_buf_dispose(&b);
	return rc;
}

int pf_pipeline_load(pf_plan **out, const char *path, pf_diag *diag)
{
	loader ld;
	memset(&ld, 0, sizeof(ld));
	ld.file = path;
	ld.diag = diag;
	if (diag)
		memset(diag, 0, sizeof(*diag));
	return load_with(&ld, out);
}

int pf_pipeline_load_all(pf_plan **out, const char *path, pf_diag **diags, size_t *n_diags)
{
	loader ld;
	int rc;
	memset(&ld, 0, sizeof(ld));
	ld.file = path;
	ld.collect = true;
	rc = load_with(&ld, out);
	*diags = ld.all;
	*n_diags = ld.n_all;
	return rc;
}

int pf_pipeline_parse_all(pf_plan **out, const char *name, const char *data, size_t len, pf_diag **diags,
                          size_t *n_diags)
{
	loader ld;
	int rc;
	memset(&ld, 0, sizeof(ld));
	ld.file = name;
	ld.collect = true;
	*out = NULL;
	rc = parse_with(&ld, out, data, len);
	*diags = ld.all;
	*n_diags = ld.n_all;
	return rc;
}

void pf_diags_free(pf_diag *diags, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pf_diag_dispose(&diags[i]);
	free(diags);
}

void pf_diag_dispose(pf_diag *diag)
{
	if (!diag)
		return;
	free(diag->file);
	free(diag->message);
	memset(diag, 0, sizeof(*diag));
}

static void kvs_free(pf_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void artifact_dispose(pf_artifact *a)
{
	free(a->path);
	pf_strv_free(a->methods, a->n_methods);
	pf_strv_free(a->backends, a->n_backends);
	pf_strv_free(a->data, a->n_data);
}

void pf_plan_free(pf_plan *p)
{
	if (!p)
		return;
	free(p->path);
	free(p->name);
	free(p->description);
	if (p->model) {
		free(p->model->hf);
		free(p->model->revision);
		free(p->model->repo_type);
		pf_strv_free(p->model->include, p->model->n_include);
		pf_strv_free(p->model->exclude, p->model->n_exclude);
		free(p->model);
	}
	kvs_free(p->vars, p->n_vars);
	for (size_t i = 0; i < p->n_steps; i++) {
		free(p->steps[i].name);
		pf_strv_free(p->steps[i].argv, p->steps[i].n_argv);
		kvs_free(p->steps[i].env, p->steps[i].n_env);
		free(p->steps[i].cwd);
		pf_strv_free(p->steps[i].inputs, p->steps[i].n_inputs);
	}
	free(p->steps);
	for (size_t i = 0; i < p->n_artifacts; i++)
		artifact_dispose(&p->artifacts[i]);
	free(p->artifacts);
	for (size_t i = 0; i < p->n_targets; i++) {
		pf_target *t = &p->targets[i];
		free(t->name);
		kvs_free(t->vars, t->n_vars);
		for (size_t j = 0; j < t->n_artifacts; j++)
			artifact_dispose(&t->artifacts[j]);
		free(t->artifacts);
		free(t->runner);
	}
	free(p->targets);
	free(p->manifest);
	free(p->target);
	free(p);
}
