/*
 * The state of one walk over a Program flatbuffer, shared by the files of
 * the .pte walker inside the pte module: program.c (plans, values,
 * instructions, delegates), data.c (segments, constants, mutable data,
 * named data) and metadata.c (the values of metadata methods).
 */
#ifndef PF_PTE_WALK_H
#define PF_PTE_WALK_H

#include "pte/fb.h"
#include "pte/internal.h"

enum { LOC_INLINE = 0, LOC_SEGMENT = 1 };
enum { EXTERNAL = 1 };

typedef struct pf_pte_walk {
	pf_pte_info *info;
	pf_fb *fb;
	bool has_segments_home; /* extended header with a segment base: segments can live somewhere */
	pf_fb_vec cs_offsets;   /* constant_segment.offsets */
	uint64_t cs_size;       /* size of the constant segment */
	bool cs_ok;             /* constant segment index valid */
	pf_fb_vec constant_buffer;
	pf_fb_vec mutable_segments;
	pf_fb_vec delegate_data; /* Program.backend_delegate_data */
	uint64_t n_external_tensors;
	bool warned_no_fqn;
	bool methods_cut;       /* per-method names past half the name budget are not stored */
	bool values_cut;        /* metadata values past PF_PTE_MAX_FILE_VALUES are not kept */
	const char *method;     /* name of the plan being walked */
	pf_pte_refset backends; /* delegate ids over all plans */
	pf_pte_refset external; /* EXTERNAL tensor names, with their layouts */
} pf_pte_walk;

#define FATAL(w, ...) pf_pte_add_finding((w)->info, PF_PTE_FATAL, __VA_ARGS__)
#define WARN(w, ...) pf_pte_add_finding((w)->info, PF_PTE_WARN, __VA_ARGS__)

/* Size of segment idx, 0 when there is no such segment. */
uint64_t pf_pte_walk_segment_size(pf_pte_walk *w, uint64_t idx);
/* A name about to be compared or copied: its bytes count against the work budget. */
bool pf_pte_walk_spend_name(pf_pte_walk *w, uint32_t len);

/* data.c: Program slots 4 (segments), 2 and 5 (constants), 6 (mutable data), 7 (named data). */
void pf_pte_walk_segments(pf_pte_walk *w, const pf_fb_table *program);
void pf_pte_walk_constants(pf_pte_walk *w, const pf_fb_table *program);
void pf_pte_walk_mutable_segments(pf_pte_walk *w, const pf_fb_table *program);
void pf_pte_walk_named_data(pf_pte_walk *w, const pf_fb_table *program);

/*
 * metadata.c: the plan is a metadata method (no inputs, instructions,
 * operators or delegates; some outputs): mark it and keep its outputs'
 * values (range-checked indices only), under the per-method and per-file caps.
 */
void pf_pte_walk_constants_of(pf_pte_walk *w, const pf_fb_table *plan, pf_pte_method *m, const pf_fb_vec *values,
                              const pf_fb_vec *outputs);

#endif
