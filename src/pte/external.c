/*
 * Cross-checks between a .pte and the .ptd files loaded with it: every
 * EXTERNAL tensor name of the program must be a key of one of them, with the
 * dtype, shape and dim order the program expects (pte-format.md section
 * 4.6). Used by the reader's own check (pf_pte_check_external*) and by the
 * verify gates. Workload: keys sorted once and found by binary search,
 * O((n + m) log m) for n tensors and m keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pte/internal.h"
#include "util/mem.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_layout(const void *a, const void *b)
{
	return strcmp((*(const pf_pte_layout *const *)a)->name, (*(const pf_pte_layout *const *)b)->name);
}

/* "[4, 8]" (or "[4, 8, ...]" past PF_PTE_MAX_DIMS) of n values at buf + used. */
static size_t describe_dims(char *buf, size_t size, size_t used, const int32_t *sizes, const uint8_t *order, uint32_t n)
{
	if (used < size)
		used += (size_t)snprintf(buf + used, size - used, "[");
	for (uint32_t d = 0; d < n && d < PF_PTE_MAX_DIMS && used < size; d++)
		used += (size_t)snprintf(buf + used, size - used, "%s%d", d ? ", " : "",
		                         sizes ? (int)sizes[d] : (int)order[d]);
	if (used < size)
		used += (size_t)snprintf(buf + used, size - used, "%s]", n > PF_PTE_MAX_DIMS ? ", ..." : "");
	return used;
}

/* "scalar type 6 [4, 8]" into buf, then " dim order [1, 0]" when asked. */
static void describe_layout(char *buf, size_t size, const pf_pte_layout *l, bool with_order)
{
	size_t used = (size_t)snprintf(buf, size, "scalar type %u ", (unsigned)l->scalar_type);
	used = describe_dims(buf, size, used, l->sizes, NULL, l->n_dims);
	if (with_order && used < size) {
		used += (size_t)snprintf(buf + used, size - used, " dim order ");
		describe_dims(buf, size, used, NULL, l->dim_order, l->n_dim_order);
	}
}

static bool same_dim_order(const pf_pte_layout *a, const pf_pte_layout *b)
{
	/* Compared only when both files carry one: an absent dim order means the default (contiguous). */
	if (!a->has_dim_order || !b->has_dim_order)
		return true;
	if (a->n_dim_order != b->n_dim_order)
		return false;
	for (uint32_t d = 0; d < a->n_dim_order && d < PF_PTE_MAX_DIMS; d++)
		if (a->dim_order[d] != b->dim_order[d])
			return false;
	return true;
}

static bool same_shape(const pf_pte_layout *a, const pf_pte_layout *b)
{
	if (a->scalar_type != b->scalar_type || a->n_dims != b->n_dims)
		return false;
	for (uint32_t d = 0; d < a->n_dims && d < PF_PTE_MAX_DIMS; d++)
		if (a->sizes[d] != b->sizes[d])
			return false;
	return true;
}

/* Called with each mismatch's message; ctx is the caller's. */
typedef void (*mismatch_fn)(void *ctx, const char *message);

/* Every EXTERNAL tensor whose key has a layout in one of the .ptd files must match it. */
static size_t each_mismatch(const pf_pte_info *pte, const pf_pte_info *const *ptds, size_t n_ptds, mismatch_fn fn,
                            void *ctx)
{
	const pf_pte_layout **index;
	size_t n = 0, bad = 0;
	if (!pte)
		return 0;
	for (size_t i = 0; i < n_ptds; i++)
		if (ptds[i] && ptds[i]->kind == PF_FILE_PTD)
			n += ptds[i]->n_layouts;
	if (n == 0 || pte->n_layouts == 0)
		return 0;
	index = pf_xreallocarray(NULL, n, sizeof(*index));
	n = 0;
	for (size_t i = 0; i < n_ptds; i++)
		if (ptds[i] && ptds[i]->kind == PF_FILE_PTD)
			for (size_t k = 0; k < ptds[i]->n_layouts; k++)
				index[n++] = &ptds[i]->layouts[k];
	qsort(index, n, sizeof(*index), cmp_layout);
	for (size_t i = 0; i < pte->n_layouts; i++) {
		const pf_pte_layout *want = &pte->layouts[i], **hit;
		char a[320], b[320], msg[1536];
		bool shape_ok, order_ok;
		hit = bsearch(&want, index, n, sizeof(*index), cmp_layout);
		if (!hit)
			continue;
		shape_ok = same_shape(want, *hit);
		order_ok = same_dim_order(want, *hit);
		if (shape_ok && order_ok)
			continue;
		describe_layout(a, sizeof(a), want, !order_ok);
		describe_layout(b, sizeof(b), *hit, !order_ok);
		snprintf(msg, sizeof(msg),
		         "external tensor \"%.512s\" is %s in the program but %s in the .ptd: the pair was not "
		         "exported together; re-export both",
		         want->name, a, b);
		fn(ctx, msg);
		bad++;
	}
	free(index);
	return bad;
}

static void add_fatal(void *ctx, const char *message)
{
	pf_pte_add_finding(ctx, PF_PTE_FATAL, "%s", message);
}

static void keep_first(void *ctx, const char *message)
{
	char **first = ctx;
	if (!*first)
		*first = pf_xstrdup(message);
}

size_t pf_pte_layout_mismatches(const pf_pte_info *pte, const pf_pte_info *const *ptds, size_t n_ptds, char **first)
{
	char *msg = NULL;
	size_t bad = each_mismatch(pte, ptds, n_ptds, keep_first, &msg);
	if (first)
		*first = msg;
	else
		free(msg);
	return bad;
}

size_t pf_pte_each_missing_key(const pf_pte_info *pte, const pf_pte_info *const *ptds, size_t n_ptds,
                               void (*fn)(void *ctx, const char *key), void *ctx)
{
	size_t missing = 0, n_keys = 0;
	char **keys = NULL;
	if (!pte || pte->n_external == 0)
		return 0;
	for (size_t i = 0; i < n_ptds; i++)
		if (ptds[i] && ptds[i]->kind == PF_FILE_PTD)
			n_keys += ptds[i]->n_data_keys;
	keys = pf_xreallocarray(NULL, n_keys ? n_keys : 1, sizeof(*keys));
	n_keys = 0;
	for (size_t i = 0; i < n_ptds; i++) {
		if (!ptds[i] || ptds[i]->kind != PF_FILE_PTD)
			continue;
		if (ptds[i]->n_data_keys)
			memcpy(keys + n_keys, ptds[i]->data_keys, ptds[i]->n_data_keys * sizeof(*keys));
		n_keys += ptds[i]->n_data_keys;
	}
	qsort(keys, n_keys, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < pte->n_external; i++) {
		const char *k = pte->external_keys[i];
		if (bsearch(&k, keys, n_keys, sizeof(*keys), cmp_str))
			continue;
		fn(ctx, k);
		missing++;
	}
	free(keys);
	return missing;
}

static void add_missing(void *ctx, const char *key)
{
	pf_pte_add_finding(ctx, PF_PTE_FATAL,
	                   "external tensor \"%s\" is not among the keys of the .ptd file(s) given: the method will "
	                   "fail to load; ship the .ptd exported with this program",
	                   key);
}

size_t pf_pte_check_external_any(pf_pte_info *pte, const pf_pte_info *const *ptds, size_t n_ptds)
{
	size_t missing = pf_pte_each_missing_key(pte, ptds, n_ptds, add_missing, pte);
	return missing + each_mismatch(pte, ptds, n_ptds, add_fatal, pte);
}

size_t pf_pte_check_external(pf_pte_info *pte, const pf_pte_info *ptd)
{
	return pf_pte_check_external_any(pte, &ptd, ptd ? 1 : 0);
}
