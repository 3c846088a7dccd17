/*
 * Typed values of a pipeline file for the section parsers of pipeline.c:
 * the first-problem report (pl_fail), plain scalars resolved as YAML 1.1
 * (PyYAML) does, mapping lookups with did-you-mean hints, duplicate checks,
 * and the checked conversions (text, names, relative paths, booleans, sizes,
 * durations, lists, key-value maps). Keep them in step with
 * schemas/pipeline.schema.json. Workload: a pipeline of a few KiB.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/interp.h"
#include "pipeline/loader.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/mem.h"

int pl_fail(loader *ld, pf_pos pos, const char *fmt, ...)
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
	int rc = pl_fail(ld, pos, "%s%s", prefix, msg);
	free(msg);
	return rc;
}

/* ---- scalar types, as YAML 1.1 (PyYAML) resolves plain scalars ---- */

/*
 * Each matcher is one of PyYAML's implicit resolvers (yaml/resolver.py), no
 * more and no less: schemas/pipeline.schema.json is checked on what PyYAML
 * loads, so a plain 1.2.3 must be text here as there, and 2024-01-01 a date.
 */

bool pl_one_of(const char *s, const char *const *words)
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
	if (pl_one_of(s, nans))
		return true;
	if (*p == '-' || *p == '+')
		p++;
	if (pl_one_of(p, infs))
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

skind pl_scalar_kind(const pl_node *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {"yes",   "Yes",   "YES", "no", "No", "NO",  "true", "True", "TRUE", "false",
	                                    "False", "FALSE", "on",  "On", "ON", "off", "Off",  "OFF",  NULL};
	if (!n->plain)
		return S_STR;
	if (pl_one_of(n->text, nulls))
		return S_NULL;
	if (pl_one_of(n->text, bools))
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

const char *pl_type_name(const pl_node *n)
{
	if (n->type == PL_MAP)
		return "a mapping";
	if (n->type == PL_SEQ)
		return "a list";
	switch (pl_scalar_kind(n)) {
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

const pl_node *pl_map_get(const pl_node *map, const char *key, const pl_node **key_node)
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
bool pl_misspelled(const pl_node *map, const char *key, const char *const *keys)
{
	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const char *sug;
		if (pl_one_of(map->kids[i]->text, keys))
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
int pl_check_map(loader *ld, const pl_node *n, const char *what, const char *const *keys)
{
	const pl_node *first[16] = {NULL};
	if (n->type != PL_MAP)
		return pl_fail(ld, n->pos, "%s must be a mapping (key: value), got %s", what, pl_type_name(n));
	for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
		const pl_node *k = n->kids[i];
		size_t idx = 0;
		while (keys[idx] && strcmp(keys[idx], k->text))
			idx++;
		if (!keys[idx]) {
			char *list = join_words(keys);
			const char *sug = did_you_mean(k->text, keys);
			if (sug)
				pl_fail(ld, k->pos,
				        "unknown key \"%.80s\" in %s: did you mean \"%s\"? (valid keys: %s)", k->text,
				        what, sug, list);
			else
				pl_fail(ld, k->pos, "unknown key \"%.80s\" in %s: valid keys are %s", k->text, what,
				        list);
			free(list);
			continue;
		}
		if (idx < 16 && first[idx]) {
			pl_fail(ld, k->pos,
			        "duplicate key \"%s\" in %s: it is already set at line %d, column %d; keep one",
			        k->text, what, first[idx]->pos.line, first[idx]->pos.col);
			continue;
		}
		if (idx < 16)
			first[idx] = k;
	}
	return 0;
}

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
int pl_check_unique(loader *ld, named *items, size_t n, const char *what)
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
		return pl_fail(ld, dup->node->pos,
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
	return pl_scalar_kind(n) == S_NULL ? ": give it a value or remove it" : ": put it in quotes";
}

int pl_want_string(loader *ld, const pl_node *n, const char *key, bool allow_empty, char **out)
{
	if (n->type != PL_SCALAR || pl_scalar_kind(n) != S_STR)
		return pl_fail(ld, n->pos, "\"%s\" must be text, got %s%s", key, pl_type_name(n), type_fix(n));
	if (!allow_empty && !n->text[0])
		return pl_fail(ld, n->pos, "\"%s\" must not be empty: give a value or remove the key", key);
	*out = pf_xstrdup(n->text);
	return 0;
}

/* Any scalar but null or a date (the schema's string, number or boolean), as text (argv, env and vars values). */
int pl_want_scalar_text(loader *ld, const pl_node *n, const char *key, char **out)
{
	if (n->type != PL_SCALAR || pl_scalar_kind(n) == S_NULL || pl_scalar_kind(n) == S_DATE)
		return pl_fail(ld, n->pos, "\"%s\" must be text, a number or a boolean, got %s%s", key, pl_type_name(n),
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

int pl_want_name(loader *ld, const pl_node *n, const char *key, char **out)
{
	int rc = pl_want_string(ld, n, key, false, out);
	if (rc < 0)
		return rc;
	if (strlen(*out) > 128 || !name_ok(*out)) {
		free(*out);
		*out = NULL;
		return pl_fail(ld, n->pos,
		               "invalid %s \"%.80s\": use letters, digits, '.', '_' and '-', starting with a "
		               "letter or digit (at most 128)",
		               key, n->text);
	}
	return 0;
}

/* A relative path inside the output folder: not absolute, no "..", no empty or "." parts. */
int pl_want_rel_path(loader *ld, const pl_node *n, const char *key, char **out)
{
	const char *p;
	int rc = pl_want_string(ld, n, key, false, out);
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
	rc = pl_fail(ld, n->pos, "%s \"%.80s\" is absolute: write it relative to the output folder, e.g. model.pte",
	             key, p);
	goto done;
bad_dots:
	rc = pl_fail(ld, n->pos, "%s \"%.80s\" contains \"..\": it must stay inside the output folder", key, p);
	goto done;
bad_form:
	rc = pl_fail(ld, n->pos,
	             "%s \"%.80s\" is not a plain relative path: use names separated by single '/', without \".\", "
	             "\"\\\" or ${...}",
	             key, p);
done:
	free(*out);
	*out = NULL;
	return rc;
}

int pl_want_bool(loader *ld, const pl_node *n, const char *key, bool *out)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off", NULL};
	if (n->type != PL_SCALAR || pl_scalar_kind(n) != S_BOOL)
		return pl_fail(
		    ld, n->pos, "\"%s\" must be true or false, got %s%s", key, pl_type_name(n),
		    n->type == PL_SCALAR && !n->plain && pl_one_of(n->text, words) ? ": write it without quotes" : "");
	*out =
	    strchr("yYtToO", n->text[0]) && strcmp(n->text, "off") && strcmp(n->text, "Off") && strcmp(n->text, "OFF");
	return 0;
}

int pl_want_size(loader *ld, const pl_node *n, const char *key, bool positive, uint64_t *out)
{
	skind k;
	if (n->type != PL_SCALAR)
		return pl_fail(ld, n->pos, "\"%s\" must be a size such as 1.5GB or 6GiB, got %s", key, pl_type_name(n));
	k = pl_scalar_kind(n);
	if (k == S_FLOAT)
		return pl_fail(ld, n->pos, "\"%s\": %.40s has no unit: write e.g. %.40sGB or %.40sGiB", key, n->text,
		               n->text, n->text);
	/* PyYAML reads 010 as 8 and YAML 1.2 as 10, 1_000 as 1000 or as text: refuse rather than guess */
	if (k == S_INT && n->text[0] != '-' && !plain_decimal(n->text))
		return pl_fail(
		    ld, n->pos,
		    "\"%s\": %.40s is an integer in a YAML 1.1 notation (leading 0, 0x, 0b, _, : or +) that "
		    "YAML readers read differently: write plain decimal digits, e.g. 1000000, or a unit, e.g. 1MB",
		    key, n->text);
	if (k != S_INT && k != S_STR)
		return pl_fail(ld, n->pos, "\"%s\" must be a size such as 1.5GB or 6GiB, got %s", key, pl_type_name(n));
	if (pf_parse_size(out, n->text) < 0) {
		char *prefix = pf_xasprintf("\"%s\": ", key);
		int rc = fail_last(ld, n->pos, prefix);
		free(prefix);
		return rc;
	}
	if (positive && *out == 0)
		return pl_fail(ld, n->pos, "\"%s\" must be greater than 0: remove the key to set no limit", key);
	return 0;
}

int pl_want_duration(loader *ld, const pl_node *n, const char *key, uint64_t *out)
{
	if (n->type != PL_SCALAR || (pl_scalar_kind(n) != S_STR && pl_scalar_kind(n) != S_INT))
		return pl_fail(ld, n->pos, "\"%s\" must be a duration such as 90s, 30m or 1h30m, got %s", key,
		               pl_type_name(n));
	if (pl_scalar_kind(n) == S_INT && plain_decimal(n->text))
		return pl_fail(ld, n->pos, "\"%s\": %.40s has no unit: write e.g. %.40ss or %.40sm", key, n->text,
		               n->text, n->text);
	if (pl_scalar_kind(n) == S_INT)
		return pl_fail(ld, n->pos,
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
		return pl_fail(ld, n->pos, "\"%s\" must be greater than 0: remove the key to set no timeout", key);
	return 0;
}

int pl_want_list(loader *ld, const pl_node *n, const char *key, bool non_empty)
{
	if (n->type != PL_SEQ)
		return pl_fail(ld, n->pos, "\"%s\" must be a list, got %s", key, pl_type_name(n));
	if (non_empty && n->n_kids == 0)
		return pl_fail(ld, n->pos, "\"%s\" must not be empty: list at least one entry", key);
	return 0;
}

int pl_want_string_list(loader *ld, const pl_node *n, const char *key, char ***out, size_t *n_out)
{
	int rc = pl_want_list(ld, n, key, false);
	if (rc < 0)
		return rc;
	*out = pf_xcalloc(n->n_kids ? n->n_kids : 1, sizeof(char *));
	*n_out = 0;
	for (size_t i = 0; i < n->n_kids; i++) {
		if ((rc = pl_want_string(ld, n->kids[i], key, false, &(*out)[i])) < 0)
			return rc;
		*n_out = i + 1;
	}
	return 0;
}

int pl_check_interp(loader *ld, const pl_node *n)
{
	const pf_plan *p = ld->plan;
	if (pf_interp_check(n->text, p->model != NULL, p->vars, p->n_vars, NULL) < 0)
		return fail_last(ld, n->pos, "");
	return 0;
}

/* A mapping of NAME: scalar (vars, env). */
int pl_want_kv_map(loader *ld, const pl_node *n, const char *what, pf_kv **out, size_t *n_out)
{
	named *names = NULL;
	size_t count;
	int rc = 0;
	if (n->type != PL_MAP)
		return pl_fail(ld, n->pos, "\"%s\" must be a mapping (NAME: value), got %s", what, pl_type_name(n));
	count = n->n_kids / 2;
	*out = pf_xcalloc(count ? count : 1, sizeof(pf_kv));
	*n_out = 0;
	names = pf_xcalloc(count ? count : 1, sizeof(*names));
	for (size_t i = 0; i < count; i++) {
		const pl_node *k = n->kids[2 * i], *v = n->kids[2 * i + 1];
		pf_kv *kv = &(*out)[i];
		if (!ident_ok(k->text) || strlen(k->text) > 128) {
			rc = pl_fail(ld, k->pos,
			             "invalid name \"%.80s\" in %s: use letters, digits and _, not starting with a "
			             "digit",
			             k->text, what);
			goto done;
		}
		kv->key = pf_xstrdup(k->text);
		kv->pos = k->pos;
		*n_out = i + 1;
		if ((rc = pl_want_scalar_text(ld, v, k->text, &kv->value)) < 0)
			goto done;
		names[i] = (named){k->text, k, i};
	}
	rc = pl_check_unique(ld, names, count, "key");
done:
	free(names);
	return rc;
}
