/*
 * Artifact gates: after the export steps of a run, prove each declared
 * artifact is whole and what it claims to be (exists, non-empty, size limits,
 * SHA-256, .pte/.ptd structure, required methods and backends, external data
 * resolved by the .ptd files shipped with it, with the dtype and shape the
 * program expects). `pteflow verify` re-runs the same per-file checks
 * (check.h). Workload: a handful of artifacts of up to a few GB each; hashing
 * streams, structure reads only the program header; external keys are
 * matched by sorting and binary search, so tens of thousands stay cheap.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pte/pte.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "verify/check.h"
#include "verify/hash.h"
#include "verify/verify.h"

typedef struct unit {
	const char *name;
	uint64_t bytes;
} unit;

static const unit decimal_units[] = {
	{"TB", 1000000000000ull}, {"GB", 1000000000ull}, {"MB", 1000000ull}, {"kB", 1000ull}};
static const unit binary_units[] = {
	{"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};

/* bytes in `u` with at most three decimals, when that is exact; else NULL. */
static char *exact_in(uint64_t bytes, const unit *u)
{
	uint64_t whole = bytes / u->bytes, rem = bytes % u->bytes, frac;
	char digits[8];
	size_t n;
	if (whole == 0 || (rem * 1000u) % u->bytes != 0) /* rem < 2^40: no overflow */
		return NULL;
	frac = rem * 1000u / u->bytes;
	if (frac == 0)
		return pf_xasprintf("%" PRIu64 " %s", whole, u->name);
	snprintf(digits, sizeof(digits), "%03u", (unsigned)frac);
	n = strlen(digits);
	while (n > 0 && digits[n - 1] == '0')
		digits[--n] = '\0';
	return pf_xasprintf("%" PRIu64 ".%s %s", whole, digits, u->name);
}

static char *first_exact(uint64_t bytes, const unit *units)
{
	for (size_t i = 0; i < 4; i++) {
		char *s = exact_in(bytes, &units[i]);
		if (s)
			return s;
	}
	return NULL;
}

char *pf_verify_format_limit(uint64_t bytes, bool *out_binary)
{
	char *d = first_exact(bytes, decimal_units), *b = first_exact(bytes, binary_units), *out;
	bool binary = false;
	if (d && b)
		binary = strlen(b) < strlen(d);
	else
		binary = b != NULL;
	if (!d && !b)
		out = pf_xasprintf("%" PRIu64 " bytes", bytes);
	else
		out = pf_xasprintf("%s (%" PRIu64 " bytes)", binary ? b : d, bytes);
	free(d);
	free(b);
	if (out_binary)
		*out_binary = binary;
	return out;
}

char *pf_verify_format_actual(uint64_t bytes, bool binary)
{
	const unit *units = binary ? binary_units : decimal_units;
	for (size_t i = 0; i < 4; i++)
		if (bytes >= units[i].bytes)
			return pf_xasprintf("%.2f %s (%" PRIu64 " bytes)", (double)bytes / (double)units[i].bytes,
					    units[i].name, bytes);
	return pf_xasprintf("%" PRIu64 " bytes", bytes);
}

static pf_gate_result *add_gate(pf_artifact_result *a, const char *name, char *expected, char *actual, bool passed)
{
	pf_gate_result *g;
	a->gates = pf_xreallocarray(a->gates, a->n_gates + 1, sizeof(*a->gates));
	g = &a->gates[a->n_gates++];
	memset(g, 0, sizeof(*g));
	g->name = pf_xstrdup(name);
	g->expected = expected;
	g->actual = actual;
	g->passed = passed;
	return g;
}

static char **copy_strv(char *const *v, size_t n)
{
	char **out = pf_xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out[i] = pf_xstrdup(v[i]);
	return out;
}

static char *join_names(char *const *v, size_t n)
{
	pf_buf b;
	pf_buf_init(&b, 1024u * 1024u);
	for (size_t i = 0; i < n; i++)
		if (pf_buf_printf(&b, "%s%s", i ? ", " : "", v[i]) < 0)
			break;
	if (n == 0)
		(void)pf_buf_puts(&b, "(none)");
	return pf_buf_detach(&b);
}

/* Linear: for the short lists of a pipeline (methods, backends, data files), not for keys. */
static bool has_name(char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] && !strcmp(v[i], name))
			return true;
	return false;
}

static void size_gates(pf_artifact_result *a, const pf_check_req *req)
{
	bool binary = false;
	pf_gate_result *g;
	if (req->min_size) {
		char *limit = pf_verify_format_limit(req->min_size, &binary);
		bool ok = a->size_bytes >= req->min_size;
		g = add_gate(a, "min_size", pf_xasprintf(">= %s", limit), pf_verify_format_actual(a->size_bytes, binary), ok);
		g->limit_bytes = req->min_size;
		if (!ok)
			g->message = pf_xasprintf("\"%s\" is %s, below its min_size %s: the export is probably incomplete",
						  req->rel, g->actual, limit);
		free(limit);
	}
	if (req->max_size) {
		char *limit = pf_verify_format_limit(req->max_size, &binary);
		bool ok = a->size_bytes <= req->max_size;
		g = add_gate(a, "max_size", pf_xasprintf("<= %s", limit), pf_verify_format_actual(a->size_bytes, binary), ok);
		g->limit_bytes = req->max_size;
		if (!ok)
			g->message = pf_xasprintf("\"%s\" is %s, over its max_size %s: quantize further or raise the limit",
						  req->rel, g->actual, limit);
		free(limit);
	}
}

static void structure_gate(pf_artifact_result *a, const pf_check_req *req)
{
	pf_file_kind want = !strcmp(req->kind, "pte")    ? PF_FILE_PTE
	                    : !strcmp(req->kind, "bpte") ? PF_FILE_BPTE
	                                                 : PF_FILE_PTD;
	pf_pte_info *info = NULL;
	pf_gate_result *g;
	const char *fatal;
	char *expected = pf_xasprintf("a valid .%s", req->kind);
	int rc = pf_pte_inspect_file(&info, req->abs);
	if (rc < 0) {
		g = add_gate(a, "structure", expected, pf_xstrdup("unreadable"), false);
		g->message = pf_xasprintf("\"%s\" could not be read: %s", req->rel, pf_error_last());
		return;
	}
	a->structure = info;
	fatal = pf_pte_first_fatal(info);
	if (fatal) {
		g = add_gate(a, "structure", expected, pf_xstrdup(fatal), false);
		g->message = pf_xasprintf("\"%s\" is not a valid .%s: %s", req->rel, req->kind, fatal);
	} else if (info->kind != want) {
		g = add_gate(a, "structure", expected, pf_xasprintf("a .%s", pf_file_kind_name(info->kind)), false);
		g->message = pf_xasprintf("\"%s\" is a %s file, but the pipeline declares kind %s: check the artifact's path and kind",
					  req->rel, pf_file_kind_name(info->kind), req->kind);
	} else {
		add_gate(a, "structure", expected, pf_xasprintf("a valid .%s", req->kind), true);
	}
}

static void methods_gate(pf_artifact_result *a, const pf_check_req *req)
{
	const pf_pte_info *p = a->structure;
	char **have = pf_xcalloc(p->n_methods ? p->n_methods : 1, sizeof(char *));
	const char *missing = NULL;
	pf_gate_result *g;
	for (size_t i = 0; i < p->n_methods; i++)
		have[i] = p->methods[i].name ? p->methods[i].name : (char *)"";
	for (size_t i = 0; i < req->n_methods && !missing; i++)
		if (!has_name(have, p->n_methods, req->methods[i]))
			missing = req->methods[i];
	g = add_gate(a, "methods", join_names(req->methods, req->n_methods), join_names(have, p->n_methods), !missing);
	g->values = copy_strv(req->methods, req->n_methods);
	g->n_values = req->n_methods;
	if (missing)
		g->message = pf_xasprintf("\"%s\" has no method \"%s\" (it has: %s): export that method or fix the pipeline's methods",
					  req->rel, missing, g->actual);
	free(have);
}

static void backends_gate(pf_artifact_result *a, const pf_check_req *req)
{
	const pf_pte_info *p = a->structure;
	const char *missing = NULL;
	pf_gate_result *g;
	for (size_t i = 0; i < req->n_backends && !missing; i++)
		if (!has_name(p->backends, p->n_backends, req->backends[i]))
			missing = req->backends[i];
	g = add_gate(a, "backends", join_names(req->backends, req->n_backends), join_names(p->backends, p->n_backends),
		     !missing);
	g->values = copy_strv(req->backends, req->n_backends);
	g->n_values = req->n_backends;
	if (missing)
		g->message = pf_xasprintf("\"%s\": no method delegates to %s: the export was not lowered", req->rel, missing);
}

void pf_verify_update_passed(pf_artifact_result *a)
{
	a->passed = a->exists;
	for (size_t i = 0; i < a->n_gates; i++)
		a->passed = a->passed && a->gates[i].passed;
}

void pf_verify_check_file(pf_artifact_result *out, const pf_check_req *req)
{
	pf_gate_result *g;
	bool structured = !strcmp(req->kind, "pte") || !strcmp(req->kind, "ptd") || !strcmp(req->kind, "bpte");
	int rc;
	out->path = pf_xstrdup(req->rel);
	out->kind = pf_xstrdup(req->kind);
	rc = pf_sha256_file(out->sha256, &out->size_bytes, req->abs);
	if (rc < 0) {
		out->sha256[0] = '\0';
		g = add_gate(out, "exists", pf_xstrdup("a regular file"), pf_xstrdup(rc == PF_ENOTFOUND ? "missing" : "unreadable"),
			     false);
		if (rc == PF_ENOTFOUND)
			g->message = pf_xasprintf("\"%s\" does not exist: the step that should write it did not (check its output path)",
						  req->rel);
		else
			g->message = pf_xasprintf("\"%s\" cannot be read: %s", req->rel, pf_error_last());
		goto done;
	}
	out->exists = true;
	add_gate(out, "exists", pf_xstrdup("a regular file"), pf_xstrdup("a regular file"), true);
	g = add_gate(out, "non_empty", pf_xstrdup("> 0 bytes"), pf_xasprintf("%" PRIu64 " bytes", out->size_bytes),
		     out->size_bytes > 0);
	if (out->size_bytes == 0)
		g->message = pf_xasprintf("\"%s\" is empty: the export step exited 0 but wrote nothing", req->rel);
	size_gates(out, req);
	if (!strcmp(req->kind, "pte"))
		out->min_free_ram_bytes = pf_pte_min_free_ram(out->size_bytes);
	if (!structured || out->size_bytes == 0)
		goto done;
	structure_gate(out, req);
	/* A .bpte's methods and backends are those of the program it embeds. */
	if (!out->structure || out->structure->kind != (!strcmp(req->kind, "bpte") ? PF_FILE_BPTE : PF_FILE_PTE) ||
	    !pf_pte_has_program(out->structure))
		goto done;
	if (req->n_methods)
		methods_gate(out, req);
	if (req->n_backends)
		backends_gate(out, req);
done:
	pf_verify_update_passed(out);
}

static const pf_artifact_result *find_result(const pf_artifact_result *all, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (all[i].path && !strcmp(all[i].path, path))
			return &all[i];
	return NULL;
}

/* The parsed .ptd files an external check draws on: those named in `data`, or every .ptd of `all`. */
static size_t data_sources(const pf_pte_info **out, const pf_artifact_result *all, size_t n_all, char *const *data,
			   size_t n_data)
{
	size_t n = 0;
	for (size_t i = 0; i < n_all; i++) {
		const pf_pte_info *s = all[i].structure;
		if (n_data && (!all[i].path || !has_name(data, n_data, all[i].path)))
			continue;
		if (s && s->kind == PF_FILE_PTD)
			out[n++] = s;
	}
	return n;
}

/* The missing keys: counted, the first eight listed comma-separated for the gate's message. */
typedef struct missing_keys {
	pf_buf list;
	size_t n;
} missing_keys;

static void list_missing(void *ctx, const char *key)
{
	missing_keys *m = ctx;
	if (m->n++ < 8)
		(void)pf_buf_printf(&m->list, "%s%s", m->n > 1 ? ", " : "", key);
}

void pf_verify_check_external(pf_artifact_result *pte, const pf_artifact_result *all, size_t n_all,
			      char *const *data, size_t n_data)
{
	const pf_pte_info *s = pte->structure;
	const pf_pte_info **ptds = NULL;
	missing_keys missing = {.n = 0};
	size_t n_missing, n_sources = 0, n_ptds, n_bad;
	char *sources = NULL, *bad = NULL;
	pf_gate_result *g;
	if (!s || s->kind != PF_FILE_PTE || (s->n_external == 0 && n_data == 0))
		return;
	pf_buf_init(&missing.list, 64u * 1024u);
	ptds = pf_xcalloc(n_all ? n_all : 1, sizeof(*ptds));
	n_ptds = data_sources(ptds, all, n_all, data, n_data);
	n_missing = pf_pte_each_missing_key(s, ptds, n_ptds, list_missing, &missing);
	/* Keys that resolve must also hold what the program expects (the runtime checks it at load). */
	n_bad = pf_pte_layout_mismatches(s, ptds, n_ptds, &bad);
	if (n_data) {
		sources = join_names(data, n_data);
		for (size_t i = 0; i < n_data; i++)
			n_sources += find_result(all, n_all, data[i]) != NULL;
	} else {
		for (size_t i = 0; i < n_all; i++)
			n_sources += all[i].kind && !strcmp(all[i].kind, "ptd");
		sources = pf_xstrdup("any .ptd of the pipeline");
	}
	g = add_gate(pte, "external_data", pf_xasprintf("%zu external keys resolved by %s", s->n_external, sources),
		     n_bad ? pf_xasprintf("%zu of %zu resolved, %zu with another dtype or shape", s->n_external - n_missing,
					  s->n_external, n_bad)
			   : pf_xasprintf("%zu of %zu resolved", s->n_external - n_missing, s->n_external),
		     n_missing == 0 && n_bad == 0);
	g->values = copy_strv(data, n_data);
	g->n_values = n_data;
	if (n_missing && n_sources == 0)
		g->message = pf_xasprintf("\"%s\" needs %zu external tensors but no .ptd provides them (%s): ship its .ptd and list it in data:",
					  pte->path, n_missing, sources);
	else if (n_missing)
		g->message = pf_xasprintf("\"%s\" has %zu external keys missing from %s: %s%s: export the .pte and .ptd together",
					  pte->path, n_missing, sources, pf_buf_cstr(&missing.list), n_missing > 8 ? ", ..." : "");
	else if (n_bad)
		g->message = pf_xasprintf("\"%s\" and %s disagree on %zu external tensor%s: %s", pte->path, sources, n_bad,
					  n_bad > 1 ? "s, the first" : "", bad);
	free(bad);
	free(ptds);
	free(sources);
	pf_buf_dispose(&missing.list);
	pf_verify_update_passed(pte);
}

int pf_verify_artifacts(pf_artifact_result **out, size_t *n_out, const pf_plan *plan, const char *out_dir)
{
	pf_artifact_result *res;
	size_t n = plan->n_artifacts;
	*out = NULL;
	*n_out = 0;
	if (!pf_fs_is_dir(out_dir))
		return pf_error_code(PF_EENV, "the output folder \"%s\" does not exist: the run did not create it", out_dir);
	res = pf_xcalloc(n ? n : 1, sizeof(*res));
	for (size_t i = 0; i < n; i++) {
		const pf_artifact *a = &plan->artifacts[i];
		char *abs = pf_fs_join(out_dir, a->path);
		pf_check_req req = {
		    .rel = a->path,
		    .abs = abs,
		    .kind = pf_artifact_kind_name(a->kind),
		    .max_size = a->max_size,
		    .min_size = a->min_size,
		    .methods = a->methods,
		    .n_methods = a->n_methods,
		    .backends = a->backends,
		    .n_backends = a->n_backends,
		};
		pf_verify_check_file(&res[i], &req);
		free(abs);
	}
	for (size_t i = 0; i < n; i++)
		pf_verify_check_external(&res[i], res, n, plan->artifacts[i].data, plan->artifacts[i].n_data);
	*out = res;
	*n_out = n;
	return 0;
}
