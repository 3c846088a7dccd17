/*
 * Internal to src/pipeline: the YAML file as a small tree of scalars,
 * sequences and mappings, each node with its source position. Built from
 * libyaml events with hard bounds (depth, node count, items per collection)
 * and no anchors, aliases or tags, so a hostile file fails fast.
 */
#ifndef PF_PIPELINE_TREE_H
#define PF_PIPELINE_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/pipeline.h"

#define PL_MAX_FILE_BYTES ((size_t)1 << 20) /* 1 MiB */
#define PL_MAX_DEPTH 32
#define PL_MAX_NODES 200000
#define PL_MAX_ITEMS 10000 /* entries of one list or mapping */

typedef enum pl_ntype { PL_SCALAR, PL_SEQ, PL_MAP } pl_ntype;

typedef struct pl_node {
	pl_ntype type;
	pf_pos pos;
	char *text; /* scalar: NUL-terminated, no embedded NUL */
	bool plain; /* scalar written without quotes (YAML resolves its type) */
	/* seq: items; map: key, value, key, value... */
	struct pl_node **kids;
	size_t n_kids;
	size_t cap;
} pl_node;

/*
 * Parse `data` into a tree (*out NULL for a file without a document). On
 * error returns PF_EINVALID, *err_pos and heap *err_msg ("what: fix").
 */
int pl_tree_parse(pl_node **out, const char *data, size_t len, pf_pos *err_pos, char **err_msg);
void pl_tree_free(pl_node *n);

#endif
