/*
 * Shared between the files of the pte module only: finding collection, name
 * storage and de-duplication, and the two flatbuffer walkers (program.c for
 * .pte, ptd.c for .ptd).
 */
#ifndef PF_PTE_INTERNAL_H
#define PF_PTE_INTERNAL_H

#include "pte/pte.h"
#include "util/error.h"

/* Findings kept per file; the rest are counted in n_findings_dropped. */
#define PF_PTE_MAX_FINDINGS 64u
/* Names quoted in finding messages are cut at this many bytes (stored names are whole, see pte.h). */
#define PF_PTE_MAX_NAME 512u
/* Items kept in each list (keys, segments, methods); counts stay exact. */
#define PF_PTE_MAX_LIST 100000u

void pf_pte_add_finding(pf_pte_info *info, pf_pte_severity sev, const char *fmt, ...) PF_PRINTF(3, 4);
/* A printable heap copy of untrusted bytes for messages (escaped as in pte.h, long names cut with "..."). */
char *pf_pte_name_dup(const char *s, size_t len);
/*
 * The stored form of a name: a whole, losslessly escaped heap copy (pte.h),
 * counted against the file's PF_PTE_MAX_NAME_BYTES. NULL once that budget is
 * spent (the first refusal adds one WARN, and every later call is refused at
 * once, so scanning costs at most twice the budget).
 */
char *pf_pte_name_store(pf_pte_info *info, const char *s, size_t len);
/* Append the stored form of a name unless the list holds PF_PTE_MAX_LIST or the budget is spent; true if added. */
bool pf_pte_list_add(pf_pte_info *info, char ***v, size_t *n, const char *s, size_t len);
/* true when two of the n strings are equal; *dup receives one of them. */
bool pf_pte_strv_find_duplicate(char **v, size_t n, const char **dup);
/* Append a segment (the array grows with what is found, never from a count in the file). */
void pf_pte_add_segment(pf_pte_info *info, uint64_t offset, uint64_t size);

/*
 * A name as it lies in the flatbuffer region (any bytes, not NUL-terminated),
 * with the layout of the tensor it names when there is one (sizes not NULL).
 * Pointers are into vectors the walker has bounds-checked.
 */
typedef struct pf_pte_ref {
	const char *s;
	uint32_t len;
	uint8_t scalar_type;
	bool has_dim_order;
	uint32_t n_dims;
	uint32_t n_dim_order;
	const uint8_t *sizes;     /* n_dims little-endian i32 */
	const uint8_t *dim_order; /* n_dim_order bytes */
} pf_pte_ref;

/*
 * Distinct refs, compared by bytes and length. Adding is amortized
 * O(log n): the array is sorted and de-duplicated whenever it doubles past
 * its last unique size, and only the `max` smallest names are kept (`cut`
 * says some were dropped), so memory stays at O(max) however often the file
 * repeats a name.
 */
typedef struct pf_pte_refset {
	pf_pte_ref *v;
	size_t n, cap;
	size_t limit; /* sort and de-duplicate when n reaches it */
	size_t max;
	bool cut;
	uint64_t n_repeats; /* refs dropped as repeats of a kept one */
	pf_pte_ref repeat;  /* the first of them */
} pf_pte_refset;

void pf_pte_refset_init(pf_pte_refset *set, size_t max);
void pf_pte_refset_add(pf_pte_refset *set, const pf_pte_ref *r);
/* Sort and de-duplicate: afterwards v[0..n) are distinct, in byte order. */
void pf_pte_refset_finish(pf_pte_refset *set);
void pf_pte_refset_dispose(pf_pte_refset *set);

/* Append a layout named r->s (stored form; dropped with the name when the budget is spent). */
void pf_pte_add_layout(pf_pte_info *info, const pf_pte_ref *r);
/* Bytes per element of a ScalarType code; 0 for codes the schema does not define. */
unsigned pf_pte_scalar_size(unsigned code);

/*
 * Walk the Program flatbuffer in region[0, len). Container fields of `info`
 * (file_size, has_extended_header, segment_base_offset, segment_data_size) are
 * set already; the walk adds methods, segments, keys and findings.
 */
void pf_pte_walk_program(pf_pte_info *info, const uint8_t *region, uint64_t len);
/*
 * Check a complete .pte image of n bytes at `image` (the program a .bpte
 * embeds): identifier, extended header, then the Program walk, with
 * info->file_size standing for n while it runs. Segment offsets are relative
 * to the image. Only the image's flatbuffer region is read.
 */
void pf_pte_check_image(pf_pte_info *info, const uint8_t *image, uint64_t n);
/* Walk a BundledProgram flatbuffer in region[0, len) (the whole .bpte): the embedded program, then the suites. */
void pf_pte_walk_bundled(pf_pte_info *info, const uint8_t *region, uint64_t len);
/*
 * Read a .bpte of n bytes from fd for pf_pte_walk_bundled: every byte except
 * the embedded program's segment data (located with a few small reads and
 * left zero, never read), so the memory cost is the flatbuffer parts, as for
 * a .pte. *out is the buffer of n bytes, or NULL when the file cannot be
 * walked (a finding says why). Returns 0, or PF_EENV when reading fails.
 */
int pf_pte_read_bundled(uint8_t **out, pf_pte_info *info, int fd, uint64_t n, const char *path);
/* pread exactly len bytes at offset (PF_EENV with a message when the file is short or unreadable). */
int pf_pte_read_full(int fd, uint8_t *buf, size_t len, uint64_t offset, const char *path);
/* The same for a FlatTensor (.ptd) flatbuffer; segment_base_offset/segment_data_size come from its header. */
void pf_pte_walk_flat_tensor(pf_pte_info *info, const uint8_t *region, uint64_t len);

#endif
