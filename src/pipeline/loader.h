/*
 * Inside the pipeline module: the loader state and the typed-value helpers
 * (values.c) that the section parsers (pipeline.c) use. Each helper checks
 * one YAML node and, on a problem, records FILE:LINE:COL with what would be
 * valid (pl_fail) and returns PF_EINVALID.
 */
#ifndef PF_PIPELINE_LOADER_H
#define PF_PIPELINE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/pipeline.h"
#include "pipeline/tree.h"
#include "util/error.h"

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

typedef struct named {
	const char *name;
	const pl_node *node;
	size_t index;
} named;

int pl_check_interp(loader *ld, const pl_node *n);
int pl_check_map(loader *ld, const pl_node *n, const char *what, const char *const *keys);
int pl_check_unique(loader *ld, named *items, size_t n, const char *what);
int pl_fail(loader *ld, pf_pos pos, const char *fmt, ...) PF_PRINTF(3, 4);
const pl_node *pl_map_get(const pl_node *map, const char *key, const pl_node **key_node);
bool pl_misspelled(const pl_node *map, const char *key, const char *const *keys);
bool pl_one_of(const char *s, const char *const *words);
skind pl_scalar_kind(const pl_node *n);
const char *pl_type_name(const pl_node *n);
int pl_want_bool(loader *ld, const pl_node *n, const char *key, bool *out);
int pl_want_duration(loader *ld, const pl_node *n, const char *key, uint64_t *out);
int pl_want_kv_map(loader *ld, const pl_node *n, const char *what, pf_kv **out, size_t *n_out);
int pl_want_list(loader *ld, const pl_node *n, const char *key, bool non_empty);
int pl_want_name(loader *ld, const pl_node *n, const char *key, char **out);
int pl_want_rel_path(loader *ld, const pl_node *n, const char *key, char **out);
int pl_want_scalar_text(loader *ld, const pl_node *n, const char *key, char **out);
int pl_want_size(loader *ld, const pl_node *n, const char *key, bool positive, uint64_t *out);
int pl_want_string(loader *ld, const pl_node *n, const char *key, bool allow_empty, char **out);
/* The root's store: section (store_settings.c). */
int pl_parse_store(loader *ld, const pl_node *n, pf_store_settings *out);
int pl_want_string_list(loader *ld, const pl_node *n, const char *key, char ***out, size_t *n_out);
/* kpi.c: a step's `kpi:` block (*out heap, freed with pl_kpi_free). */
int pl_parse_kpi(loader *ld, const pl_node *n, pf_kpi_gates **out);
void pl_kpi_free(pf_kpi_gates *k);

#endif
