/*
 * A step's fingerprint: named components (command, env, tools, packages,
 * model, inputs, upstream), each a list of keyed items with a SHA-256, and
 * one SHA-256 over them all. Two fingerprints that differ can say where:
 * the first component, and in it the first item, that differs, so
 * `pteflow explain` names the input that changed.
 *
 * Items carry a `shown` text for people (already redacted by the caller:
 * secret values are hashed, never kept in clear). Ownership: everything in a
 * pf_fingerprint is heap, freed by pf_fp_dispose.
 */
#ifndef PF_CACHE_FINGERPRINT_H
#define PF_CACHE_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pf_fp_item {
	char *key;        /* "argv[3]", "HF_TOKEN", "pteflow_steps/check.py" */
	char sha256[65];  /* of the value */
	char *shown;      /* short text for explain, or NULL (secret, binary, too long) */
} pf_fp_item;

typedef struct pf_fp_component {
	char *name;       /* "command", "env", ... */
	char sha256[65];  /* over its items (set by pf_fp_finish) */
	pf_fp_item *items;
	size_t n_items;
} pf_fp_component;

typedef struct pf_fingerprint {
	pf_fp_component *components;
	size_t n_components;
	char sha256[65];  /* the fingerprint; "" until pf_fp_finish */
} pf_fingerprint;

void pf_fp_init(pf_fingerprint *fp);
void pf_fp_dispose(pf_fingerprint *fp);

/* Start a component; items added next belong to it. */
void pf_fp_component_begin(pf_fingerprint *fp, const char *name);
/* Add an item whose value is `len` bytes (hashed here); `shown` may be NULL. */
void pf_fp_add(pf_fingerprint *fp, const char *key, const void *value, size_t len, const char *shown);
/* Add an item whose value's SHA-256 is already known (64 hex digits, or any content id). */
void pf_fp_add_hash(pf_fingerprint *fp, const char *key, const char *hex, const char *shown);
/* Compute every component's hash and the fingerprint. */
void pf_fp_finish(pf_fingerprint *fp);

/*
 * Where `now` differs from `before`: a one-line heap text naming the first
 * differing component and item ("command: argv[6] \"0\" -> \"1\""), or NULL
 * when they are the same. *component (may be NULL) receives the component's
 * name (points into now or before; valid while they are).
 */
char *pf_fp_diff(const pf_fingerprint *now, const pf_fingerprint *before, const char **component);

/* A component by name, or NULL. */
const pf_fp_component *pf_fp_find(const pf_fingerprint *fp, const char *name);

/* To and from JSON text (the store keeps it beside each entry). Parse errors: PF_EINVALID. */
struct cJSON;
struct cJSON *pf_fp_to_json(const pf_fingerprint *fp);
int pf_fp_from_json(pf_fingerprint *out, const struct cJSON *json);

#endif
