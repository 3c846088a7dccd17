/* Helpers shared by the files of src/modelsig/ only. */
#ifndef PF_MODELSIG_INTERNAL_H
#define PF_MODELSIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

typedef enum ms_kind { MS_FILE, MS_DIR, MS_LINK, MS_OTHER } ms_kind;

typedef struct ms_entry {
	char *name;   /* relative to the walked folder, '/'-separated */
	ms_kind kind; /* from lstat: a link is never followed */
} ms_entry;

/* Whether the walk goes into the folder `rel` (relative name); it is listed either way. */
typedef bool (*ms_descend_fn)(const char *rel, void *ctx);

/*
 * Every entry below dir (not dir itself), depth first, folders listed before
 * what they hold; links and special files are listed, never followed or
 * opened. At most PF_MODELSIG_MAX_ITEMS entries and PF_MODELSIG_MAX_DEPTH
 * levels (PF_ELIMIT). PF_ENOTFOUND when dir does not exist, PF_EINVALID when
 * it is not a folder. Free with ms_entries_free().
 */
int ms_walk(ms_entry **out, size_t *n, const char *dir, ms_descend_fn descend, void *ctx);
void ms_entries_free(ms_entry *e, size_t n);

/*
 * A path written in ignore_paths, cleaned as Python's PurePosixPath does
 * ("./a//b/" -> "a/b", "." -> ""); NULL for one that can never name a file of
 * the model (absolute, or with a ".." component). Heap.
 */
char *ms_clean_path(const char *p);

#endif
