/*
 * Pipeline file (version 1, schemas/pipeline.schema.json) to a validated
 * pf_plan. For `pteflow validate`, `run` and `matrix`: the YAML tree from
 * tree.c is walked key by key; the first problem stops the walk and is
 * reported as FILE:LINE:COL with what is wrong and what would be valid (also
 * in a pf_diag for GitHub annotations). This file holds the sections
 * (limits, model, steps, artifacts, targets, the root) and the public entry
 * points; values.c the typed-value helpers they share (loader.h). A
 * pipeline is a few KiB: the walk is linear, except the duplicate checks,
 * which sort.
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
#include "pipeline/loader.h"
#include "pipeline/tree.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

/* ---- sections ---- */

static const char *const limit_keys[] = {"memory", "timeout", "expect", NULL};

static int parse_limits(loader *ld, const pl_node *n, const char *what, pf_limits *out)
{
	const pl_node *v;
	int rc = pl_check_map(ld, n, what, limit_keys);
	if (rc < 0)
		return rc;
	out->pos = n->pos;
	if ((v = pl_map_get(n, "memory", NULL)) && (rc = pl_want_size(ld, v, "memory", true, &out->memory_bytes)) < 0)
		return rc;
	if ((v = pl_map_get(n, "timeout", NULL)) && (rc = pl_want_duration(ld, v, "timeout", &out->timeout_ms)) < 0)
		return rc;
	if ((v = pl_map_get(n, "expect", NULL)) && (rc = pl_want_size(ld, v, "expect", true, &out->expect_bytes)) < 0)
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
	int rc = pl_check_map(ld, n, "model", model_keys);
	if (rc < 0)
		return rc;
	m = *out = pf_xcalloc(1, sizeof(*m));
	m->pos = n->pos;
	if (!(v = pl_map_get(n, "hf", NULL)) && pl_misspelled(n, "hf", model_keys))
		return PF_EINVALID; /* reported as an unknown key with the suggestion */
	if (!v)
		return pl_fail(ld, n->pos,
		               "model is missing required key \"hf\": add hf: ORG/NAME (a Hugging Face repo id)");
	if ((rc = pl_want_string(ld, v, "hf", false, &m->hf)) < 0)
		return rc;
	if (!repo_id_ok(m->hf))
		return pl_fail(ld, v->pos,
		               "invalid Hugging Face repo id \"%.80s\": write ORG/NAME, e.g. "
		               "meta-llama/Llama-3.2-1B-Instruct",
		               m->hf);
	if ((v = pl_map_get(n, "revision", NULL))) {
		if ((rc = pl_want_string(ld, v, "revision", false, &m->revision)) < 0)
			return rc;
	} else {
		m->revision = pf_xstrdup("main");
	}
	if ((v = pl_map_get(n, "repo_type", NULL))) {
		if ((rc = pl_want_string(ld, v, "repo_type", false, &m->repo_type)) < 0)
			return rc;
		if (!pl_one_of(m->repo_type, repo_types))
			return pl_fail(ld, v->pos, "invalid repo_type \"%.80s\": use model, dataset or space",
			               m->repo_type);
	} else {
		m->repo_type = pf_xstrdup("model");
	}
	if ((v = pl_map_get(n, "include", NULL)) &&
	    (rc = pl_want_string_list(ld, v, "include", &m->include, &m->n_include)) < 0)
		return rc;
	if ((v = pl_map_get(n, "exclude", NULL)) &&
	    (rc = pl_want_string_list(ld, v, "exclude", &m->exclude, &m->n_exclude)) < 0)
		return rc;
	return 0;
}

static const char *const step_keys[] = {"name",   "run",   "shell", "env", "cwd",
                                        "limits", "inputs", "cache", "kpi", NULL};

static int parse_run(loader *ld, const pl_node *v, pf_step *s)
{
	int rc;
	if (s->shell) {
		if (v->type != PL_SCALAR || pl_scalar_kind(v) != S_STR || !v->text[0])
			return pl_fail(ld, v->pos, "with shell: true, \"run\" must be one command line as text, got %s",
			               v->type == PL_SCALAR && !v->text[0] ? "empty text" : pl_type_name(v));
		s->argv = pf_xcalloc(1, sizeof(char *));
		s->argv[0] = pf_xstrdup(v->text);
		s->n_argv = 1;
		return pl_check_interp(ld, v);
	}
	if (v->type == PL_SCALAR && pl_scalar_kind(v) == S_STR)
		return pl_fail(ld, v->pos,
		               "\"run\" is a single string: give an argv list [PROGRAM, ARG...], or set "
		               "shell: true to run it with /bin/sh -c");
	if ((rc = pl_want_list(ld, v, "run", true)) < 0)
		return rc;
	s->argv = pf_xcalloc(v->n_kids, sizeof(char *));
	for (size_t i = 0; i < v->n_kids; i++) {
		if ((rc = pl_want_scalar_text(ld, v->kids[i], "run", &s->argv[i])) < 0)
			return rc;
		s->n_argv = i + 1;
		if ((rc = pl_check_interp(ld, v->kids[i])) < 0)
			return rc;
	}
	if (!s->argv[0][0])
		return pl_fail(ld, v->kids[0]->pos,
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
	int rc = pl_check_map(ld, n, "step", step_keys);
	if (rc < 0)
		return rc;
	s->pos = n->pos;
	if (!(v = pl_map_get(n, "name", NULL)) && pl_misspelled(n, "name", step_keys))
		return PF_EINVALID;
	if (!v)
		return pl_fail(ld, n->pos,
		               "step is missing required key \"name\": add name: export (a short unique name)");
	if ((rc = pl_want_name(ld, v, "step name", &s->name)) < 0)
		return rc;
	if ((v = pl_map_get(n, "shell", NULL)) && (rc = pl_want_bool(ld, v, "shell", &s->shell)) < 0)
		return rc;
	if (!(v = pl_map_get(n, "run", NULL)) && pl_misspelled(n, "run", step_keys))
		return PF_EINVALID;
	if (!v)
		return pl_fail(ld, n->pos, "step \"%s\" is missing required key \"run\": add run: [PROGRAM, ARG...]",
		               s->name);
	if ((rc = parse_run(ld, v, s)) < 0)
		return rc;
	if ((v = pl_map_get(n, "env", NULL))) {
		if ((rc = pl_want_kv_map(ld, v, "env", &s->env, &s->n_env)) < 0)
			return rc;
		for (size_t i = 0; i < s->n_env; i++)
			if ((rc = pl_check_interp(ld, v->kids[2 * i + 1])) < 0)
				return rc;
	}
	if ((v = pl_map_get(n, "cwd", NULL))) {
		if ((rc = pl_want_string(ld, v, "cwd", false, &s->cwd)) < 0 || (rc = pl_check_interp(ld, v)) < 0)
			return rc;
	}
	if ((v = pl_map_get(n, "limits", NULL)) && (rc = parse_limits(ld, v, "step limits", &s->limits)) < 0)
		return rc;
	merge_limits(&s->limits, &ld->plan->limits);
	if ((v = pl_map_get(n, "inputs", NULL))) {
		if ((rc = pl_want_string_list(ld, v, "inputs", &s->inputs, &s->n_inputs)) < 0)
			return rc;
		for (size_t i = 0; i < s->n_inputs; i++)
			if ((rc = pl_check_interp(ld, v->kids[i])) < 0)
				return rc;
	}
	s->cache = true;
	if ((v = pl_map_get(n, "cache", NULL)) && (rc = pl_want_bool(ld, v, "cache", &s->cache)) < 0)
		return rc;
	if ((v = pl_map_get(n, "kpi", NULL)) && (rc = pl_parse_kpi(ld, v, &s->kpi)) < 0)
		return rc;
	for (pf_step *o = ld->plan->steps; s->kpi && o < s; o++)
		if (o->kpi)
			return pl_fail(ld, v->pos, "step \"%s\" has a kpi block, and so has step \"%s\": one step of a "
			               "pipeline measures the runtime KPIs (the manifest records one kpi section)",
			               s->name, o->name);
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
	int rc = pl_check_map(ld, n, what, override ? override_keys : artifact_keys);
	if (rc < 0)
		return rc;
	a->pos = n->pos;
	if (!(v = pl_map_get(n, "path", NULL)) && pl_misspelled(n, "path", artifact_keys))
		return PF_EINVALID;
	if (!v)
		return pl_fail(ld, n->pos,
		               "%s is missing required key \"path\": add path: model.pte (relative to the output "
		               "folder)",
		               what);
	if ((rc = pl_want_rel_path(ld, v, "artifact path", &a->path)) < 0)
		return rc;
	a->kind = ends_with(a->path, ".pte")    ? PF_ARTIFACT_PTE
	          : ends_with(a->path, ".ptd")  ? PF_ARTIFACT_PTD
	          : ends_with(a->path, ".bpte") ? PF_ARTIFACT_BPTE
	                                        : PF_ARTIFACT_FILE;
	if ((v = pl_map_get(n, "kind", NULL))) {
		static const char *const kinds[] = {"pte", "ptd", "bpte", "file", NULL};
		if (v->type != PL_SCALAR || pl_scalar_kind(v) != S_STR || !pl_one_of(v->text, kinds))
			return pl_fail(ld, v->pos, "invalid kind \"%.80s\": use pte, ptd, bpte or file",
			               v->text ? v->text : "");
		a->kind = !strcmp(v->text, "pte")    ? PF_ARTIFACT_PTE
		          : !strcmp(v->text, "ptd")  ? PF_ARTIFACT_PTD
		          : !strcmp(v->text, "bpte") ? PF_ARTIFACT_BPTE
		                                     : PF_ARTIFACT_FILE;
		a->set |= PF_ARTIFACT_SET_KIND;
	}
	if ((v = pl_map_get(n, "max_size", NULL))) {
		if ((rc = pl_want_size(ld, v, "max_size", true, &a->max_size)) < 0)
			return rc;
		a->set |= PF_ARTIFACT_SET_MAX_SIZE;
	}
	if ((v = pl_map_get(n, "min_size", NULL))) {
		if ((rc = pl_want_size(ld, v, "min_size", false, &a->min_size)) < 0)
			return rc;
		a->set |= PF_ARTIFACT_SET_MIN_SIZE;
	}
	if (a->max_size && a->min_size > a->max_size)
		return pl_fail(
		    ld, v->pos,
		    "min_size is larger than max_size: no file can pass both gates; lower min_size or raise max_size");
	if ((v = pl_map_get(n, "methods", &key))) {
		if ((rc = pl_want_string_list(ld, v, "methods", &a->methods, &a->n_methods)) < 0)
			return rc;
		a->set |= PF_ARTIFACT_SET_METHODS;
	}
	if ((v = pl_map_get(n, "backends", &key))) {
		if ((rc = pl_want_string_list(ld, v, "backends", &a->backends, &a->n_backends)) < 0)
			return rc;
		a->set |= PF_ARTIFACT_SET_BACKENDS;
	}
	if ((v = pl_map_get(n, "data", &key))) {
		if ((rc = pl_want_list(ld, v, "data", false)) < 0)
			return rc;
		a->data = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(char *));
		for (size_t i = 0; i < v->n_kids; i++) {
			if ((rc = pl_want_rel_path(ld, v->kids[i], "data path", &a->data[i])) < 0)
				return rc;
			a->n_data = i + 1;
		}
		a->set |= PF_ARTIFACT_SET_DATA;
	}
	/* A .bpte's gates look at the program inside it; external data (data:) is for a .pte alone. */
	if (!override && a->kind != PF_ARTIFACT_PTE) {
		bool program = a->kind == PF_ARTIFACT_BPTE;
		const char *bad = !program && pl_map_get(n, "methods", &key)    ? "methods"
		                  : !program && pl_map_get(n, "backends", &key) ? "backends"
		                  : pl_map_get(n, "data", &key)                 ? "data"
		                                                                : NULL;
		if (bad && !strcmp(bad, "data"))
			return pl_fail(ld, key->pos,
			               "\"data\" applies to .pte artifacts only: set kind: pte or remove it");
		if (bad)
			return pl_fail(
			    ld, key->pos,
			    "\"%s\" applies to .pte and .bpte artifacts only: set kind: pte or bpte, or remove it",
			    bad);
	}
	return 0;
}

const char *pf_artifact_kind_name(pf_artifact_kind kind)
{
	switch (kind) {
	case PF_ARTIFACT_PTE:
		return "pte";
	case PF_ARTIFACT_PTD:
		return "ptd";
	case PF_ARTIFACT_BPTE:
		return "bpte";
	default:
		return "file";
	}
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
		const pl_node *dn = pl_map_get(list->kids[i], "data", NULL);
		for (size_t j = 0; j < a->n_data; j++) {
			const pf_artifact *d = find_artifact(p, a->data[j]);
			if (!d)
				return pl_fail(ld, dn->kids[j]->pos,
				               "\"%s\" in data is not an artifact of this pipeline: list it "
				               "under artifacts with kind: ptd",
				               a->data[j]);
			if (d->kind != PF_ARTIFACT_PTD)
				return pl_fail(ld, dn->kids[j]->pos,
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
	int rc = pl_check_map(ld, n, "target", target_keys);
	if (rc < 0)
		return rc;
	t->pos = n->pos;
	if (!(v = pl_map_get(n, "name", NULL)) && pl_misspelled(n, "name", target_keys))
		return PF_EINVALID;
	if (!v)
		return pl_fail(ld, n->pos,
		               "target is missing required key \"name\": add name: int8-seq512 (a short unique name)");
	if ((rc = pl_want_name(ld, v, "target name", &t->name)) < 0)
		return rc;
	if ((v = pl_map_get(n, "vars", NULL))) {
		if ((rc = pl_want_kv_map(ld, v, "target vars", &t->vars, &t->n_vars)) < 0)
			return rc;
		for (size_t i = 0; i < t->n_vars; i++) {
			bool known = false;
			for (size_t j = 0; j < ld->plan->n_vars; j++)
				known = known || !strcmp(ld->plan->vars[j].key, t->vars[i].key);
			if (!known)
				return pl_fail(ld, t->vars[i].pos,
				               "target variable \"%s\" is not declared in the pipeline's vars: "
				               "declare it there with a default value",
				               t->vars[i].key);
		}
	}
	if ((v = pl_map_get(n, "limits", NULL)) && (rc = parse_limits(ld, v, "target limits", &t->limits)) < 0)
		return rc;
	if ((v = pl_map_get(n, "runner", NULL)) && (rc = pl_want_string(ld, v, "runner", false, &t->runner)) < 0)
		return rc;
	if ((v = pl_map_get(n, "artifacts", NULL))) {
		if ((rc = pl_want_list(ld, v, "artifacts", false)) < 0)
			return rc;
		t->artifacts = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(pf_artifact));
		paths = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(*paths));
		for (size_t i = 0; i < v->n_kids; i++) {
			pf_artifact *a = &t->artifacts[i];
			t->n_artifacts = i + 1;
			if ((rc = parse_artifact(ld, v->kids[i], a, true)) < 0)
				goto done;
			if (!find_artifact(ld->plan, a->path)) {
				rc = pl_fail(ld, pl_map_get(v->kids[i], "path", NULL)->pos,
				             "target artifact \"%s\" is not an artifact of the pipeline: a target only "
				             "overrides the gates of listed artifacts",
				             a->path);
				goto done;
			}
			paths[i] = (named){a->path, pl_map_get(v->kids[i], "path", NULL), i};
		}
		rc = pl_check_unique(ld, paths, v->n_kids, "target artifact path");
	}
done:
	free(paths);
	return rc;
}

static const char *const root_keys[] = {"version", "name",      "description", "model",    "vars", "limits",
                                        "steps",   "artifacts", "targets",     "manifest", "store", NULL};

static int parse_version(loader *ld, const pl_node *root)
{
	const pl_node *v = pl_map_get(root, "version", NULL);
	if (!v)
		return pl_fail(ld, root->pos,
		               "missing required key \"version\": add version: 1 at the top of the file");
	if (v->type != PL_SCALAR || pl_scalar_kind(v) != S_INT)
		return pl_fail(ld, v->pos, "\"version\" must be the integer 1, got %s%s", pl_type_name(v),
		               v->type == PL_SCALAR && !v->plain ? ": write version: 1 without quotes" : "");
	if (strcmp(v->text, "1"))
		return pl_fail(ld, v->pos, "unsupported version %.20s: this pteflow reads version 1", v->text);
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
	const pl_node *v = pl_map_get(root, "steps", NULL);
	named *names;
	size_t n_ok = 0;
	int first = 0;
	if (!v && pl_misspelled(root, "steps", root_keys))
		return PF_EINVALID; /* reported as an unknown key with the suggestion */
	if (!v)
		return pl_fail(ld, root->pos,
		               "missing required key \"steps\": add steps: with at least one step "
		               "(name and run)");
	if (keep(&first, pl_want_list(ld, v, "steps", true)) < 0)
		return first;
	p->steps = pf_xcalloc(v->n_kids, sizeof(pf_step));
	names = pf_xcalloc(v->n_kids, sizeof(*names));
	for (size_t i = 0; i < v->n_kids; i++) {
		p->n_steps = i + 1;
		keep(&first, parse_step(ld, v->kids[i], &p->steps[i]));
		if (p->steps[i].name) /* a step with another problem still claims its name */
			names[n_ok++] = (named){p->steps[i].name, pl_map_get(v->kids[i], "name", NULL), i};
	}
	keep(&first, pl_check_unique(ld, names, n_ok, "step name"));
	free(names);
	return first;
}

static int parse_artifacts(loader *ld, const pl_node *root)
{
	pf_plan *p = ld->plan;
	const pl_node *v = pl_map_get(root, "artifacts", NULL);
	named *names;
	size_t n_ok = 0;
	int first = 0;
	if (!v)
		return 0;
	if (keep(&first, pl_want_list(ld, v, "artifacts", false)) < 0)
		return first;
	p->artifacts = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(pf_artifact));
	names = pf_xcalloc(v->n_kids ? v->n_kids : 1, sizeof(*names));
	for (size_t i = 0; i < v->n_kids; i++) {
		p->n_artifacts = i + 1;
		keep(&first, parse_artifact(ld, v->kids[i], &p->artifacts[i], false));
		if (p->artifacts[i].path)
			names[n_ok++] = (named){p->artifacts[i].path, pl_map_get(v->kids[i], "path", NULL), i};
	}
	keep(&first, pl_check_unique(ld, names, n_ok, "artifact path"));
	if (first == 0) /* cross-references need every artifact */
		keep(&first, check_data_refs(ld, v));
	free(names);
	return first;
}

static int parse_targets(loader *ld, const pl_node *root)
{
	pf_plan *p = ld->plan;
	const pl_node *v = pl_map_get(root, "targets", NULL);
	named *names;
	size_t n_ok = 0;
	int first = 0;
	if (!v)
		return 0;
	if (keep(&first, pl_want_list(ld, v, "targets", true)) < 0)
		return first;
	p->targets = pf_xcalloc(v->n_kids, sizeof(pf_target));
	names = pf_xcalloc(v->n_kids, sizeof(*names));
	for (size_t i = 0; i < v->n_kids; i++) {
		p->n_targets = i + 1;
		keep(&first, parse_target(ld, v->kids[i], &p->targets[i]));
		if (p->targets[i].name)
			names[n_ok++] = (named){p->targets[i].name, pl_map_get(v->kids[i], "name", NULL), i};
	}
	keep(&first, pl_check_unique(ld, names, n_ok, "target name"));
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
		return pl_fail(ld, (pf_pos){1, 1},
		               "the file is empty: a pipeline starts with version: 1, name and steps");
	if (root->type != PL_MAP)
		return pl_fail(ld, root->pos,
		               "a pipeline must be a mapping (version: 1, name: ..., steps: ...), got %s",
		               pl_type_name(root));
	if (keep(&first, parse_version(ld, root)) < 0)
		return first; /* another version: its keys mean something else */
	keep(&first, pl_check_map(ld, root, "the pipeline", root_keys));
	if (!(v = pl_map_get(root, "name", NULL)))
		keep(&first, pl_misspelled(root, "name", root_keys)
		                 ? PF_EINVALID
		                 : pl_fail(ld, root->pos, "missing required key \"name\": add name: my-pipeline"));
	else
		keep(&first, pl_want_name(ld, v, "pipeline name", &p->name));
	if ((v = pl_map_get(root, "description", NULL)))
		keep(&first, pl_want_string(ld, v, "description", true, &p->description));
	if ((v = pl_map_get(root, "vars", NULL)))
		rc_vars = keep(&first, pl_want_kv_map(ld, v, "vars", &p->vars, &p->n_vars));
	if ((v = pl_map_get(root, "model", NULL)) && keep(&first, parse_model(ld, v, &p->model)) < 0)
		rc_vars = PF_EINVALID;
	if ((v = pl_map_get(root, "limits", NULL)))
		keep(&first, parse_limits(ld, v, "limits", &p->limits));
	if (rc_vars == 0)
		keep(&first, parse_steps(ld, root));
	rc_arts = keep(&first, parse_artifacts(ld, root));
	if (rc_vars == 0 && rc_arts == 0)
		keep(&first, parse_targets(ld, root));
	if ((v = pl_map_get(root, "store", NULL)))
		keep(&first, pl_parse_store(ld, v, &p->store));
	if ((v = pl_map_get(root, "manifest", NULL)))
		keep(&first, pl_want_rel_path(ld, v, "manifest", &p->manifest));
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
		rc = pl_fail(ld, pos,
		             "the file is larger than %zu KiB: a pipeline is a small file; check that this is "
		             "the right file",
		             PL_MAX_FILE_BYTES / 1024);
		goto done;
	}
	if ((rc = pl_tree_parse(&root, data, len, &pos, &msg)) < 0) {
		rc = pl_fail(ld, pos, "%s", msg);
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
		pl_kpi_free(p->steps[i].kpi);
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
	free(p->store.remote);
	free(p->store.mode);
	free(p->target);
	free(p);
}
