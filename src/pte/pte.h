/*
 * Bounds-checked readers for ExecuTorch program files (.pte, flatbuffer
 * identifier ET12, optional eh00 extended header, segments after the program),
 * FlatTensor data files (.ptd, FT01 + FH01 header) and bundled programs
 * (.bpte, BP08: a .pte image plus test cases). See shared docs pte-format.md
 * for the layout and executorch-runtime-contracts.md for metadata methods and
 * bundled programs.
 *
 * The reader reads only the header and the flatbuffer region through a file
 * descriptor (pread), never the segment data (for a .bpte: all of the bundle
 * but the embedded program's segment data), so inspecting a 1 GB file costs
 * the size of its program, not of its weights. The flatbuffer region itself
 * is read into memory, so a region over PF_PTE_MAX_PROGRAM_BYTES (but within
 * FlatBuffers' 2 GiB) is not walked: a WARN says it was not checked
 * structurally.
 *
 * Names (method names, backend ids, keys) are stored whole, with control
 * bytes, DEL and backslashes escaped (\xNN, \\): the escaping is lossless, so
 * two stored names are equal exactly when their bytes and lengths are, and
 * strcmp on them is an exact comparison. Their total size per file is capped
 * (PF_PTE_MAX_NAME_BYTES); past it a WARN says the listings are cut.
 *
 * Problems are collected, not thrown: a pf_pte_info carries every finding
 * with a severity; pf_pte_ok() says whether any is fatal.
 */
#ifndef PF_PTE_PTE_H
#define PF_PTE_PTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PF_PTE_MAX_PROGRAM_BYTES (512u * 1024u * 1024u)
/* Bytes of stored names per file (escaped copies plus a pointer each): bounds memory when tables are shared. */
#define PF_PTE_MAX_NAME_BYTES (16u * 1024u * 1024u)

typedef enum pf_pte_severity { PF_PTE_WARN = 1, PF_PTE_FATAL = 2 } pf_pte_severity;

typedef struct pf_pte_finding {
	pf_pte_severity severity;
	char *message; /* "segment 3 ends at byte 1200 past the end of the file (1000 bytes): the file is truncated" */
} pf_pte_finding;

/*
 * One value a metadata ("constant") method returns: the exporter turns
 * to_edge(constant_methods={"get_max_seq_len": 128, ...}) into a plan with no
 * inputs and no instructions whose outputs are Int, Bool, Double or String
 * values (executorch-runtime-contracts.md section 1.2). Read, never run.
 */
typedef enum pf_pte_value_type {
	PF_PTE_VALUE_INT = 1,
	PF_PTE_VALUE_BOOL,
	PF_PTE_VALUE_DOUBLE,
	PF_PTE_VALUE_STRING,
	PF_PTE_VALUE_OTHER /* a tensor, list or null: legal, but no scalar a runner reads */
} pf_pte_value_type;

typedef struct pf_pte_value {
	pf_pte_value_type type;
	int64_t i; /* INT; BOOL as 0 or 1 */
	double d;  /* DOUBLE */
	char *s;   /* STRING: stored form (pte.h escaping); OTHER: the EValue type name; NULL past the name budget */
} pf_pte_value;

/* Values kept per metadata method, and per file; counts stay exact. */
#define PF_PTE_MAX_METHOD_VALUES 1024u
#define PF_PTE_MAX_FILE_VALUES 65536u

typedef struct pf_pte_method {
	char *name;
	uint32_t n_inputs;
	uint32_t n_outputs;
	uint32_t n_values;
	uint32_t n_instructions;  /* over all chains */
	uint32_t n_operators;
	char **delegates;         /* distinct backend ids used by this plan, sorted by their bytes */
	size_t n_delegates;
	/*
	 * Memory planning: the arenas the runtime allocates before it runs the
	 * method (ExecutionPlan.non_const_buffer_sizes without its reserved
	 * entry 0, which the runtime skips). Saturates at UINT64_MAX on a hostile
	 * file (a FATAL finding says so); a negative size is FATAL too.
	 */
	uint64_t planned_bytes;
	uint32_t n_planned_buffers;
	/*
	 * A metadata method: no inputs, no instructions, no operators or
	 * delegates, at least one output. Its outputs, in order, are in
	 * `constants` (at most PF_PTE_MAX_METHOD_VALUES; n_outputs is exact).
	 * is_list: the exporter's pytree spec says the value was a list or tuple
	 * (so get_eos_ids = [2] reads as a list of one), or there are several.
	 */
	bool is_constant;
	bool is_list;
	pf_pte_value *constants;
	size_t n_constants;
} pf_pte_method;

typedef struct pf_pte_segment {
	uint64_t offset; /* relative to the segment base */
	uint64_t size;
} pf_pte_segment;

/*
 * Dtype, shape and dim order of a named tensor: an EXTERNAL tensor of a .pte,
 * or a key of a .ptd with a layout.
 */
#define PF_PTE_MAX_DIMS 16
typedef struct pf_pte_layout {
	char *name;
	uint8_t scalar_type; /* ScalarType code (6 = float32, ...) */
	uint32_t n_dims;     /* may exceed PF_PTE_MAX_DIMS; then only the first are in sizes */
	int32_t sizes[PF_PTE_MAX_DIMS];
	bool has_dim_order;   /* false when the file carries none */
	uint32_t n_dim_order; /* may exceed PF_PTE_MAX_DIMS; then only the first are in dim_order */
	uint8_t dim_order[PF_PTE_MAX_DIMS];
} pf_pte_layout;

typedef enum pf_file_kind { PF_FILE_UNKNOWN = 0, PF_FILE_PTE, PF_FILE_PTD, PF_FILE_BPTE } pf_file_kind;

/*
 * BundledProgram (.bpte, identifier BP08): test cases for the methods of the
 * .pte image it embeds (executorch-runtime-contracts.md section 2). A value
 * of a test case is a tensor (dtype, shape, data bytes) or an Int, Bool or
 * Double.
 */
typedef enum pf_bpte_value_type {
	PF_BPTE_TENSOR = 1,
	PF_BPTE_INT = 2,
	PF_BPTE_BOOL = 3,
	PF_BPTE_DOUBLE = 4
} pf_bpte_value_type;

typedef struct pf_bpte_value {
	pf_bpte_value_type type;
	uint8_t scalar_type; /* TENSOR: ScalarType code */
	uint32_t n_dims;     /* TENSOR: may exceed PF_PTE_MAX_DIMS; then only the first are in sizes */
	int32_t sizes[PF_PTE_MAX_DIMS];
	uint64_t data_bytes; /* TENSOR: length of its data */
	int64_t i;           /* INT; BOOL as 0 or 1 */
	double d;            /* DOUBLE */
} pf_bpte_value;

/* Listed per case and cases per suite, and suites per file; the counts stay exact. */
#define PF_BPTE_MAX_LISTED 16u
#define PF_BPTE_MAX_SUITES 1024u

typedef struct pf_bpte_case {
	uint32_t n_inputs;
	uint32_t n_outputs;    /* expected outputs */
	pf_bpte_value *values; /* first inputs (up to PF_BPTE_MAX_LISTED), then outputs (same cap) */
	size_t n_listed_inputs;
	size_t n_listed_outputs;
} pf_bpte_case;

typedef struct pf_bpte_suite {
	char *method; /* stored form; "#N" when absent or past the name budget */
	uint32_t n_cases;
	pf_bpte_case *cases; /* the first PF_BPTE_MAX_LISTED */
	size_t n_listed_cases;
} pf_bpte_suite;

typedef struct pf_pte_info {
	pf_file_kind kind;
	uint64_t file_size;
	/* .pte */
	char identifier[5];       /* "ET12" */
	bool has_extended_header;
	uint32_t header_length;
	uint64_t program_size;
	uint64_t segment_base_offset;
	uint64_t segment_data_size; /* 0 when the header predates it */
	uint32_t schema_version;
	pf_pte_method *methods;
	size_t n_methods;
	char **backends;          /* distinct delegate ids over all methods, sorted by their bytes */
	size_t n_backends;
	pf_pte_segment *segments;
	size_t n_segments;
	uint64_t n_constant_buffers; /* inline constants (old layout) */
	uint64_t constant_bytes;     /* bytes of constant data (segment or inline) */
	char **named_data_keys;      /* keys the .pte carries itself (named_data) */
	size_t n_named_data;
	char **external_keys;        /* fully qualified names of EXTERNAL tensors (distinct, sorted): must come from a .ptd */
	size_t n_external;
	/* .ptd */
	uint32_t ptd_version;
	char **data_keys;            /* named_data keys of the .ptd (legacy layout: tensor names too) */
	size_t n_data_keys;
	/* findings */
	pf_pte_finding *findings;
	size_t n_findings;
	/* added with the reader */
	size_t n_fatal;                 /* fatal findings, counting those dropped */
	size_t n_warn;                  /* warnings, counting those dropped */
	size_t n_findings_dropped;      /* findings past the per-file cap: counted, not kept */
	uint64_t program_extent;        /* one past the highest program byte the reader examined */
	uint64_t n_delegate_blobs;      /* Program.backend_delegate_data entries (inline delegate blobs) */
	uint64_t segment_bytes;         /* sum of segment sizes (.pte and .ptd) */
	uint64_t ptd_flatbuffer_offset; /* .ptd header: size of the header block */
	uint64_t ptd_flatbuffer_size;   /* .ptd header: flatbuffer bytes; program_size = offset + size */
	pf_pte_layout *layouts;         /* .pte: EXTERNAL tensors; .ptd: keys that carry a tensor layout */
	size_t n_layouts;
	bool ptd_legacy_layout;         /* v0.6.0 FlatTensor layout (newer runtimes cannot read it) */
	uint64_t name_bytes;            /* stored names, counted against PF_PTE_MAX_NAME_BYTES */
	bool names_cut;                 /* the budget ran out: later names are not listed */
	/* metadata methods (issue 16) */
	size_t n_constant_methods; /* methods with is_constant */
	size_t n_values_kept;      /* metadata values kept, counted against PF_PTE_MAX_FILE_VALUES */
	/*
	 * .bpte: the fields above describe the embedded program (header fields,
	 * methods, backends, segments relative to its image); these describe the
	 * bundle. file_size is the .bpte's.
	 */
	uint32_t bundled_version;
	uint64_t bundled_program_offset; /* file offset of the embedded .pte image */
	uint64_t bundled_program_size;   /* its length (0: absent) */
	pf_bpte_suite *suites;           /* the first PF_BPTE_MAX_SUITES */
	size_t n_suites;
	uint64_t n_suites_total;    /* method_test_suites entries (all of them are checked) */
	const char *finding_prefix; /* internal: prepended to findings while the embedded program is walked */
} pf_pte_info;

/*
 * Inspect a file (kind detected from its bytes, not its name). Returns 0 when
 * the file could be read at all (then read the findings), PF_ENOTFOUND or
 * PF_EENV when it could not be opened.
 */
int pf_pte_inspect_file(pf_pte_info **out, const char *path);
/* The same over bytes in memory (fuzzing, tests). Always returns a result. */
int pf_pte_inspect_bytes(pf_pte_info **out, const uint8_t *data, size_t len);
/* true when no finding is fatal. */
bool pf_pte_ok(const pf_pte_info *info);
/* First fatal finding's message, or NULL. */
const char *pf_pte_first_fatal(const pf_pte_info *info);
void pf_pte_info_free(pf_pte_info *info);
/*
 * Cross-check a .pte against the .ptd that will be loaded with it: every
 * EXTERNAL tensor name of `pte` must be a data key of `ptd`. Each missing key
 * is added to pte's findings as FATAL, and so is a key whose .ptd layout
 * differs from the tensor's (see pf_pte_layout_mismatches). Returns the
 * number of problems.
 */
size_t pf_pte_check_external(pf_pte_info *pte, const pf_pte_info *ptd);
/* The same against several .ptd files (a key may come from any of them); entries that are not .ptd add no keys. */
size_t pf_pte_check_external_any(pf_pte_info *pte, const pf_pte_info *const *ptds, size_t n_ptds);
/*
 * Call fn(ctx, key) for each EXTERNAL tensor name of `pte` that no .ptd of
 * `ptds` holds (keys sorted once, looked up by binary search); returns how
 * many. pf_pte_check_external_any and the verify gates both use it.
 */
size_t pf_pte_each_missing_key(const pf_pte_info *pte, const pf_pte_info *const *ptds, size_t n_ptds,
                               void (*fn)(void *ctx, const char *key), void *ctx);
/*
 * Compare each EXTERNAL tensor of `pte` with the layout the .ptd files give
 * its key: dtype and shape, and dim order when both sides carry one; keys
 * without a layout are skipped. Entries of `ptds` that are NULL or not .ptd
 * are ignored. Returns the number of tensors that differ; when `first` is not
 * NULL it receives a heap message about the first of them (the caller frees
 * it), or NULL. O((n + m) log m) for n tensors and m layouts.
 */
size_t pf_pte_layout_mismatches(const pf_pte_info *pte, const pf_pte_info *const *ptds, size_t n_ptds, char **first);
const char *pf_file_kind_name(pf_file_kind kind);
/* true for a .pte, or a .bpte whose embedded program was read: methods, backends and metadata apply. */
bool pf_pte_has_program(const pf_pte_info *info);
/* Methods that are not metadata methods (what a runner can execute). */
size_t pf_pte_n_runnable_methods(const pf_pte_info *info);
/* A metadata method by name, or NULL. */
const pf_pte_method *pf_pte_find_constant(const pf_pte_info *info, const char *name);
/*
 * A metadata value as text into buf: 128, true, 64.0, "x" (the stored,
 * escaped form in quotes), <tensor> for other types. Cut to fit `size`.
 */
void pf_pte_value_format(char *buf, size_t size, const pf_pte_value *v);
/* Name of a ScalarType code ("float32", "int64", ...), or NULL for codes the schema does not define. */
const char *pf_pte_scalar_name(unsigned code);

/*
 * Runtime footprint of a .pte without running it: the data the program
 * brings (its segments: constants, delegate blobs, named data; inline
 * delegate data and constants are inside the program) plus the program
 * region, plus the planned memory of its largest method. Weights an
 * external .ptd supplies are not counted. Saturates at UINT64_MAX.
 */
uint64_t pf_pte_max_planned_bytes(const pf_pte_info *info);
uint64_t pf_pte_runtime_bytes(const pf_pte_info *info);

/* Device admission figure used by mobile apps before loading: size * 1.6 + 600 MB. */
uint64_t pf_pte_min_free_ram(uint64_t file_size);

#endif
