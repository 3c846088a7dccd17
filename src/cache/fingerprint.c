/*
 * Fingerprints (fingerprint.h): building, hashing, comparing and the JSON
 * form kept in the store. A component's hash covers its items' keys and
 * hashes in the order they were added (callers add them in a fixed order:
 * argv order, names sorted); the fingerprint covers the component names and
 * hashes, behind a format tag so a future change of what goes in cannot
 * collide with today's entries.
 *
 * Workload: a few components of a few hundred items per step; nothing hot.
 * The JSON read back is the store's own file, still parsed as untrusted
 * (types checked, hashes must be 64 hex digits). No registered secret is
 * kept in a key or a shown value: both are redacted when an item is added.
 */
#include "cache/fingerprint.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

#define FP_FORMAT "pteflow-fingerprint-v1"
#define SHOWN_MAX 160u

void pf_fp_init(pf_fingerprint *fp)
{
	memset(fp, 0, sizeof(*fp));
}

void pf_fp_dispose(pf_fingerprint *fp)
{
	if (!fp)
		return;
	for (size_t i = 0; i < fp->n_components; i++) {
		pf_fp_component *c = &fp->components[i];
		for (size_t k = 0; k < c->n_items; k++) {
			free(c->items[k].key);
			free(c->items[k].shown);
		}
		free(c->items);
		free(c->name);
	}
	free(fp->components);
	memset(fp, 0, sizeof(*fp));
}

void pf_fp_component_begin(pf_fingerprint *fp, const char *name)
{
	fp->components = pf_xreallocarray(fp->components, fp->n_components + 1, sizeof(pf_fp_component));
	memset(&fp->components[fp->n_components], 0, sizeof(pf_fp_component));
	fp->components[fp->n_components].name = pf_xstrdup(name);
	fp->n_components++;
}

/* Long texts are cut for display only; the hash is always of the whole value. */
static char *shorten(const char *shown)
{
	size_t len;
	if (!shown)
		return NULL;
	len = strlen(shown);
	if (len <= SHOWN_MAX)
		return pf_xstrdup(shown);
	return pf_xasprintf("%.*s...", (int)(SHOWN_MAX - 3), shown);
}

void pf_fp_add_hash(pf_fingerprint *fp, const char *key, const char *hex, const char *shown)
{
	pf_fp_component *c;
	pf_fp_item *it;
	if (!fp->n_components)
		pf_fp_component_begin(fp, "inputs");
	c = &fp->components[fp->n_components - 1];
	c->items = pf_xreallocarray(c->items, c->n_items + 1, sizeof(pf_fp_item));
	it = &c->items[c->n_items++];
	memset(it, 0, sizeof(*it));
	if (pf_secret_contains(key, strlen(key))) {
		/* a secret in the key itself (`${env.HF_TOKEN}` in an inputs: pattern): the key is kept
		 * redacted, and the secret still counts through the item's hash */
		pf_sha256 *h = pf_sha256_new();
		pf_sha256_update(h, key, strlen(key) + 1);
		pf_sha256_update(h, hex, strlen(hex));
		pf_sha256_final_hex(h, it->sha256);
		it->key = pf_secret_redact(key);
	} else {
		it->key = pf_xstrdup(key);
		snprintf(it->sha256, sizeof(it->sha256), "%s", hex);
	}
	if (shown && pf_secret_contains(shown, strlen(shown))) {
		char *clean = pf_secret_redact(shown);
		it->shown = shorten(clean);
		free(clean);
	} else {
		it->shown = shorten(shown);
	}
}

void pf_fp_add(pf_fingerprint *fp, const char *key, const void *value, size_t len, const char *shown)
{
	char hex[65];
	pf_sha256_bytes(hex, value, len);
	pf_fp_add_hash(fp, key, hex, shown);
}

void pf_fp_finish(pf_fingerprint *fp)
{
	pf_sha256 *all = pf_sha256_new();
	pf_sha256_update(all, FP_FORMAT "\n", sizeof(FP_FORMAT));
	for (size_t i = 0; i < fp->n_components; i++) {
		pf_fp_component *c = &fp->components[i];
		pf_sha256 *h = pf_sha256_new();
		for (size_t k = 0; k < c->n_items; k++) {
			/* key NUL hash LF: keys cannot contain NUL, so no two item lists hash alike */
			pf_sha256_update(h, c->items[k].key, strlen(c->items[k].key) + 1);
			pf_sha256_update(h, c->items[k].sha256, strlen(c->items[k].sha256));
			pf_sha256_update(h, "\n", 1);
		}
		pf_sha256_final_hex(h, c->sha256);
		pf_sha256_update(all, c->name, strlen(c->name) + 1);
		pf_sha256_update(all, c->sha256, 64);
		pf_sha256_update(all, "\n", 1);
	}
	pf_sha256_final_hex(all, fp->sha256);
}

const pf_fp_component *pf_fp_find(const pf_fingerprint *fp, const char *name)
{
	for (size_t i = 0; i < fp->n_components; i++)
		if (!strcmp(fp->components[i].name, name))
			return &fp->components[i];
	return NULL;
}

static const pf_fp_item *find_item(const pf_fp_component *c, const char *key)
{
	for (size_t i = 0; c && i < c->n_items; i++)
		if (!strcmp(c->items[i].key, key))
			return &c->items[i];
	return NULL;
}

/* How one component differs, item by item: the first changed, added or removed key. */
static char *diff_items(const pf_fp_component *now, const pf_fp_component *before)
{
	for (size_t i = 0; i < now->n_items; i++) {
		const pf_fp_item *a = &now->items[i], *b = find_item(before, a->key);
		if (!b)
			return pf_xasprintf("%s: \"%s\" is new%s%s", now->name, a->key, a->shown ? ": " : "",
					    a->shown ? a->shown : "");
		if (strcmp(a->sha256, b->sha256)) {
			if (a->shown && b->shown)
				return pf_xasprintf("%s: \"%s\" changed: \"%s\" -> \"%s\"", now->name, a->key,
						    b->shown, a->shown);
			return pf_xasprintf("%s: \"%s\" changed (content %.12s -> %.12s)", now->name, a->key,
					    b->sha256, a->sha256);
		}
	}
	for (size_t i = 0; i < before->n_items; i++)
		if (!find_item(now, before->items[i].key))
			return pf_xasprintf("%s: \"%s\" is gone", now->name, before->items[i].key);
	return pf_xasprintf("%s: the order of its entries changed", now->name);
}

char *pf_fp_diff(const pf_fingerprint *now, const pf_fingerprint *before, const char **component)
{
	if (component)
		*component = NULL;
	if (!strcmp(now->sha256, before->sha256))
		return NULL;
	for (size_t i = 0; i < now->n_components; i++) {
		const pf_fp_component *a = &now->components[i], *b = pf_fp_find(before, a->name);
		if (component)
			*component = a->name;
		if (!b)
			return pf_xasprintf("%s: not part of the stored fingerprint", a->name);
		if (strcmp(a->sha256, b->sha256))
			return diff_items(a, b);
	}
	for (size_t i = 0; i < before->n_components; i++) {
		if (!pf_fp_find(now, before->components[i].name)) {
			if (component)
				*component = before->components[i].name;
			return pf_xasprintf("%s: no longer part of the fingerprint", before->components[i].name);
		}
	}
	return pf_xstrdup("the fingerprint format changed");
}

cJSON *pf_fp_to_json(const pf_fingerprint *fp)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < fp->n_components; i++) {
		const pf_fp_component *c = &fp->components[i];
		cJSON *co = cJSON_CreateObject(), *items = cJSON_CreateArray();
		cJSON_AddStringToObject(co, "name", c->name);
		cJSON_AddStringToObject(co, "sha256", c->sha256);
		for (size_t k = 0; k < c->n_items; k++) {
			cJSON *it = cJSON_CreateObject();
			cJSON_AddStringToObject(it, "key", c->items[k].key);
			cJSON_AddStringToObject(it, "sha256", c->items[k].sha256);
			if (c->items[k].shown)
				cJSON_AddStringToObject(it, "shown", c->items[k].shown);
			cJSON_AddItemToArray(items, it);
		}
		cJSON_AddItemToObject(co, "items", items);
		cJSON_AddItemToArray(arr, co);
	}
	return arr;
}

static const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int pf_fp_from_json(pf_fingerprint *out, const cJSON *json)
{
	const cJSON *co;
	int rc = 0;
	pf_fp_init(out);
	if (!cJSON_IsArray(json))
		return pf_error_code(PF_EINVALID, "\"components\" is not a list");
	cJSON_ArrayForEach(co, json)
	{
		const char *name = json_str(co, "name");
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(co, "items"), *it;
		if (!name || !cJSON_IsArray(items)) {
			rc = pf_error_code(PF_EINVALID, "a component has no name or items");
			goto done;
		}
		pf_fp_component_begin(out, name);
		cJSON_ArrayForEach(it, items)
		{
			const char *key = json_str(it, "key"), *sha = json_str(it, "sha256");
			if (!key || !pf_is_sha256_hex(sha)) {
				rc = pf_error_code(PF_EINVALID, "component \"%s\" has an item without key or sha256", name);
				goto done;
			}
			pf_fp_add_hash(out, key, sha, json_str(it, "shown"));
		}
	}
	pf_fp_finish(out);
done:
	if (rc < 0)
		pf_fp_dispose(out);
	return rc;
}
