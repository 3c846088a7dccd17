/*
 * Shared between the files of the pte module only: finding collection and
 * the two flatbuffer walkers (program.c for .pte, ptd.c for .ptd).
 */
#ifndef PF_PTE_INTERNAL_H
#define PF_PTE_INTERNAL_H

#include "pte/pte.h"
#include "util/error.h"

/* Findings kept per file; the rest are counted in n_findings_dropped. */
#define PF_PTE_MAX_FINDINGS 64u
/* Names (method names, keys) are stored and printed up to this many bytes. */
#define PF_PTE_MAX_NAME 512u
/* Items kept in each list (keys, segments, methods); counts stay exact. */
#define PF_PTE_MAX_LIST 100000u

void pf_pte_add_finding(pf_pte_info *info, pf_pte_severity sev, const char *fmt, ...) PF_PRINTF(3, 4);
/* A printable heap copy of untrusted bytes (control bytes become '?', long names are cut). */
char *pf_pte_name_dup(const char *s, size_t len);
/* Append a copy of name to (*v, *n) unless already there; returns its index. */
size_t pf_pte_strv_add_unique(char ***v, size_t *n, const char *name);
/* Append a copy even if present (callers that report duplicates do that themselves). */
void pf_pte_strv_add(char ***v, size_t *n, const char *name);
/* true when two of the n strings are equal; *dup receives one of them. */
bool pf_pte_strv_find_duplicate(char **v, size_t n, const char **dup);
/* Append a segment (the array grows with what is found, never from a count in the file). */
void pf_pte_add_segment(pf_pte_info *info, uint64_t offset, uint64_t size);
/* Append a layout (name copied; sizes read from a checked vector of n_dims i32 at `sizes`). */
void pf_pte_add_layout(pf_pte_info *info, const char *name, uint8_t scalar_type, const uint8_t *sizes, uint32_t n_dims);
/* Bytes per element of a ScalarType code; 0 for codes the schema does not define. */
unsigned pf_pte_scalar_size(unsigned code);

/*
 * Walk the Program flatbuffer in region[0, len). Container fields of `info`
 * (file_size, has_extended_header, segment_base_offset, segment_data_size) are
 * set already; the walk adds methods, segments, keys and findings.
 */
void pf_pte_walk_program(pf_pte_info *info, const uint8_t *region, uint64_t len);
/* The same for a FlatTensor (.ptd) flatbuffer; segment_base_offset/segment_data_size come from its header. */
void pf_pte_walk_flat_tensor(pf_pte_info *info, const uint8_t *region, uint64_t len);

#endif
