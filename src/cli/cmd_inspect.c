/*
 * `pteflow inspect FILE [--json]`: show the structure of a .pte, .ptd or
 * .bpte file as the reader in src/pte/ sees it (headers, methods, delegates,
 * metadata values, segments, data keys, test suites, findings) and exit 1
 * when a finding is fatal, so scripts and CI
 * jobs can gate on it. Reads only the headers and the program region, so a
 * 1 GB file costs the time of its few-kilobyte program.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "manifest/structure.h"
#include "pte/pte.h"
#include "util/log.h"

const char pf_usage_inspect[] = "usage: pteflow inspect FILE [--json]\n"
                                "\n"
                                "Show the structure of an ExecuTorch program (.pte), data file (.ptd) or bundled\n"
                                "program (.bpte, a .pte with test cases), found from its bytes rather than its name,\n"
                                "and check it the way the runtime would.\n"
                                "\n"
                                "Printed: kind, size, header fields (extended header, program size, segment base and\n"
                                "size), methods with their input/output/value/instruction/operator counts and the\n"
                                "backends they delegate to, distinct backends, segments (offset in the segment data\n"
                                "and in the file, size), constant data, named data keys, EXTERNAL tensor names (the\n"
                                "keys a .ptd must provide), for a .ptd its version and keys, every finding (FATAL:\n"
                                "the runtime would refuse the file or it is truncated or corrupt; WARN: unusual but\n"
                                "loadable), and for a .pte the free RAM a device should have before loading it\n"
                                "(file size x 1.6 + 600 MB).\n"
                                "\n"
                                "Metadata: the values of the program's metadata methods (get_max_seq_len,\n"
                                "get_eos_ids, use_kv_cache... as LLM runners read them), read without running\n"
                                "anything: get_max_seq_len = 128, get_eos_ids = [1, 2].\n"
                                "\n"
                                "A .bpte: its version and test suites (method, number of test cases, each case's\n"
                                "inputs and expected outputs with tensor dtypes and shapes), and the embedded .pte\n"
                                "checked like a file of its own (its findings start \"embedded program:\"). Fatal:\n"
                                "a suite for a method the program lacks, tensor data whose size disagrees with its\n"
                                "shape and dtype, an embedded program that is not a valid .pte.\n"
                                "\n"
                                "Runtime footprint of a .pte, read from the file without running it: each method's\n"
                                "planned memory (the sum of its execution plan's non-constant buffers, the arenas\n"
                                "the runtime allocates to run it), the constant data, and the total the runtime\n"
                                "holds to load and run the largest method (program + segment data + its planned\n"
                                "memory; weights an external .ptd supplies come on top).\n"
                                "\n"
                                "Only the headers and the program are read, never the segment data.\n"
                                "\n"
                                "options:\n"
                                "  --json      print the same as one JSON object on stdout\n"
                                "  -h, --help  show this help\n"
                                "\n"
                                "exit codes: 0 no fatal finding; 1 a fatal finding (truncated, corrupt, not\n"
                                "ExecuTorch); 2 bad usage; 3 the file cannot be opened or read.\n";

/* Lists longer than this are cut in the table (the JSON has them all). */
#define TABLE_LIST_MAX 40

static void print_size(uint64_t n)
{
	if (n >= 1000ull * 1000 * 1000)
		printf("%" PRIu64 " bytes (%.2f GB)", n, (double)n / 1e9);
	else if (n >= 1000ull * 1000)
		printf("%" PRIu64 " bytes (%.1f MB)", n, (double)n / 1e6);
	else if (n >= 1000)
		printf("%" PRIu64 " bytes (%.1f kB)", n, (double)n / 1e3);
	else
		printf("%" PRIu64 " bytes", n);
}

static void print_list(const char *label, char **v, size_t n)
{
	printf("%-17s", label);
	if (n == 0) {
		printf("(none)\n");
		return;
	}
	printf("%zu\n", n);
	for (size_t i = 0; i < n && i < TABLE_LIST_MAX; i++)
		printf("  %s\n", v[i]);
	if (n > TABLE_LIST_MAX)
		printf("  ... and %zu more (see --json)\n", n - TABLE_LIST_MAX);
}

static void print_segments(const pf_pte_info *p)
{
	printf("%-17s%zu", "segments", p->n_segments);
	if (p->n_segments)
		printf(", ");
	if (p->n_segments)
		print_size(p->segment_bytes);
	printf("\n");
	if (!p->n_segments)
		return;
	printf("  %-6s %-14s %-14s %s\n", "INDEX", "OFFSET", "FILE OFFSET", "SIZE");
	for (size_t i = 0; i < p->n_segments && i < TABLE_LIST_MAX; i++) {
		const pf_pte_segment *s = &p->segments[i];
		uint64_t abs = s->offset + p->segment_base_offset + p->bundled_program_offset;
		printf("  %-6zu %-14" PRIu64, i, s->offset);
		if (p->segment_base_offset && abs >= s->offset)
			printf(" %-14" PRIu64, abs);
		else
			printf(" %-14s", "-");
		printf(" %" PRIu64 "\n", s->size);
	}
	if (p->n_segments > TABLE_LIST_MAX)
		printf("  ... and %zu more (see --json)\n", p->n_segments - TABLE_LIST_MAX);
}

static void print_methods(const pf_pte_info *p)
{
	printf("%-17s%zu\n", "methods", p->n_methods);
	if (!p->n_methods)
		return;
	printf("  %-20s %6s %7s %7s %12s %9s %14s  %s\n", "NAME", "INPUTS", "OUTPUTS", "VALUES", "INSTRUCTIONS",
	       "OPERATORS", "PLANNED BYTES", "DELEGATES");
	for (size_t i = 0; i < p->n_methods && i < TABLE_LIST_MAX; i++) {
		const pf_pte_method *m = &p->methods[i];
		printf("  %-20s %6u %7u %7u %12u %9u %14" PRIu64 "  ", m->name ? m->name : "?", m->n_inputs,
		       m->n_outputs, m->n_values, m->n_instructions, m->n_operators, m->planned_bytes);
		if (!m->n_delegates)
			printf("-");
		for (size_t d = 0; d < m->n_delegates; d++)
			printf("%s%s", d ? ", " : "", m->delegates[d]);
		printf("\n");
	}
	if (p->n_methods > TABLE_LIST_MAX)
		printf("  ... and %zu more (see --json)\n", p->n_methods - TABLE_LIST_MAX);
}

/* Lines of one metadata method: "  get_eos_ids = [1, 2]" (long lists cut, see --json). */
static void print_metadata(const pf_pte_info *p)
{
	char v[640];
	printf("%-17s", "metadata");
	if (!p->n_constant_methods) {
		printf("(none)\n");
		return;
	}
	printf("%zu\n", p->n_constant_methods);
	for (size_t i = 0; i < p->n_methods; i++) {
		const pf_pte_method *m = &p->methods[i];
		if (!m->is_constant)
			continue;
		printf("  %s = %s", m->name ? m->name : "?", m->is_list ? "[" : "");
		for (size_t k = 0; k < m->n_constants && k < TABLE_LIST_MAX; k++) {
			pf_pte_value_format(v, sizeof(v), &m->constants[k]);
			printf("%s%s", k ? ", " : "", v);
		}
		if (m->n_outputs > TABLE_LIST_MAX)
			printf(", ... %u in all", m->n_outputs);
		printf("%s\n", m->is_list ? "]" : "");
	}
}

/* "float32 [1, 4]" or "int 3" */
static void print_bvalue(const pf_bpte_value *v)
{
	const char *dtype;
	switch (v->type) {
	case PF_BPTE_TENSOR:
		dtype = pf_pte_scalar_name(v->scalar_type);
		printf("%s [", dtype ? dtype : "?");
		for (uint32_t d = 0; d < v->n_dims && d < PF_PTE_MAX_DIMS; d++)
			printf("%s%d", d ? ", " : "", (int)v->sizes[d]);
		printf("%s]", v->n_dims > PF_PTE_MAX_DIMS ? ", ..." : "");
		break;
	case PF_BPTE_INT:
		printf("int %" PRId64, v->i);
		break;
	case PF_BPTE_BOOL:
		printf("bool %s", v->i ? "true" : "false");
		break;
	case PF_BPTE_DOUBLE:
		printf("double %.17g", v->d);
		break;
	default:
		printf("?");
	}
}

static void print_bvalues(const char *label, const pf_bpte_value *v, size_t n_listed, uint32_t n)
{
	printf("%s %u [", label, n);
	for (size_t i = 0; i < n_listed; i++) {
		printf("%s", i ? ", " : "");
		print_bvalue(&v[i]);
	}
	printf("%s]", n > n_listed ? ", ..." : "");
}

static void print_suites(const pf_pte_info *p)
{
	printf("%-17sversion %u, embedded program %" PRIu64 " bytes at byte %" PRIu64 "\n", "bundle",
	       p->bundled_version, p->bundled_program_size, p->bundled_program_offset);
	printf("%-17s%" PRIu64 "\n", "test suites", p->n_suites_total);
	for (size_t i = 0; i < p->n_suites; i++) {
		const pf_bpte_suite *s = &p->suites[i];
		printf("  %s: %u test case%s\n", s->method, s->n_cases, s->n_cases == 1 ? "" : "s");
		for (size_t c = 0; c < s->n_listed_cases; c++) {
			const pf_bpte_case *tc = &s->cases[c];
			printf("    case %zu: ", c);
			print_bvalues("inputs", tc->values, tc->n_listed_inputs, tc->n_inputs);
			printf("; ");
			print_bvalues("expected outputs", tc->values + tc->n_listed_inputs, tc->n_listed_outputs,
			              tc->n_outputs);
			printf("\n");
		}
		if (s->n_cases > s->n_listed_cases)
			printf("    ... and %zu more (see --json)\n", (size_t)(s->n_cases - s->n_listed_cases));
	}
	if (p->n_suites_total > p->n_suites)
		printf("  ... and %" PRIu64 " more suites\n", p->n_suites_total - p->n_suites);
}

static void print_table(const char *path, const pf_pte_info *p)
{
	printf("%-17s%s\n", "file", path);
	printf("%-17s%s", "kind", pf_file_kind_name(p->kind));
	if (p->identifier[0])
		printf(" (identifier %s)", p->identifier);
	printf("\n%-17s", "size");
	print_size(p->file_size);
	printf("\n");
	if (p->kind == PF_FILE_BPTE)
		print_suites(p);
	if (pf_pte_has_program(p)) {
		if (p->has_extended_header)
			printf("%-17seh00, %u bytes: program %" PRIu64 " bytes, segment base %" PRIu64
			       ", segment data %" PRIu64 " bytes%s\n",
			       "header", p->header_length, p->program_size, p->segment_base_offset,
			       p->segment_data_size,
			       p->header_length < 32 ? " (pre-1.0 header: size not recorded)" : "");
		else
			printf("%-17snone (the whole file is the program)\n", "header");
		printf("%-17s%u\n", "schema version", p->schema_version);
		print_methods(p);
		print_metadata(p);
		print_list("backends", p->backends, p->n_backends);
		print_segments(p);
		printf("%-17s", "constant data");
		print_size(p->constant_bytes);
		if (p->n_constant_buffers)
			printf(" (%" PRIu64 " inline buffers, deprecated layout)", p->n_constant_buffers);
		printf("\n");
		printf("%-17s", "planned memory");
		print_size(pf_pte_max_planned_bytes(p));
		printf(" (largest method)\n%-17s", "runtime memory");
		print_size(pf_pte_runtime_bytes(p));
		printf(" (program + segment data + planned memory%s)\n", p->n_external ? "; plus the .ptd weights" : "");
		print_list("named data", p->named_data_keys, p->n_named_data);
		print_list("external tensors", p->external_keys, p->n_external);
		printf("%-17s", "device free RAM");
		print_size(pf_pte_min_free_ram(p->file_size));
		printf(" (file size x 1.6 + 600 MB)\n");
	} else if (p->kind == PF_FILE_PTD) {
		printf("%-17sFH01, %u bytes: flatbuffer offset %" PRIu64 ", size %" PRIu64 ", segment base %" PRIu64
		       ", segment data %" PRIu64 " bytes\n",
		       "header", p->header_length, p->ptd_flatbuffer_offset, p->ptd_flatbuffer_size,
		       p->segment_base_offset, p->segment_data_size);
		printf("%-17s%u%s\n", "version", p->ptd_version, p->ptd_legacy_layout ? " (legacy v0.6.0 layout)" : "");
		print_segments(p);
		print_list("data keys", p->data_keys, p->n_data_keys);
	}
	printf("%-17s", "findings");
	if (!p->n_findings)
		printf("none\n");
	else
		printf("%zu fatal, %zu warnings\n", p->n_fatal, p->n_warn);
	for (size_t i = 0; i < p->n_findings; i++)
		printf("  %-5s  %s\n", p->findings[i].severity == PF_PTE_FATAL ? "FATAL" : "WARN",
		       p->findings[i].message);
	if (p->n_findings_dropped)
		printf("  ... %zu more findings not shown\n", p->n_findings_dropped);
	printf("%-17s%s\n", "verdict", pf_pte_ok(p) ? "OK" : "BROKEN");
}

static cJSON *json_strings(char **v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static void add_u64(cJSON *o, const char *key, uint64_t v)
{
	/* JSON numbers are doubles: exact up to 2^53, more than any real file size. */
	cJSON_AddNumberToObject(o, key, (double)v);
}

static cJSON *json_info(const char *path, const pf_pte_info *p)
{
	cJSON *o = cJSON_CreateObject(), *a, *x;
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddStringToObject(o, "kind", pf_file_kind_name(p->kind));
	cJSON_AddStringToObject(o, "identifier", p->identifier);
	add_u64(o, "file_size", p->file_size);
	cJSON_AddBoolToObject(o, "ok", pf_pte_ok(p));
	x = cJSON_AddObjectToObject(o, "header");
	cJSON_AddBoolToObject(x, "extended", p->has_extended_header);
	add_u64(x, "header_length", p->header_length);
	add_u64(x, "program_size", p->program_size);
	add_u64(x, "segment_base_offset", p->segment_base_offset);
	add_u64(x, "segment_data_size", p->segment_data_size);
	if (p->kind == PF_FILE_PTD) {
		add_u64(x, "flatbuffer_offset", p->ptd_flatbuffer_offset);
		add_u64(x, "flatbuffer_size", p->ptd_flatbuffer_size);
		x = cJSON_AddObjectToObject(o, "ptd");
		add_u64(x, "version", p->ptd_version);
		cJSON_AddBoolToObject(x, "legacy_layout", p->ptd_legacy_layout);
		cJSON_AddItemToObject(x, "data_keys", json_strings(p->data_keys, p->n_data_keys));
	}
	if (p->kind == PF_FILE_BPTE)
		cJSON_AddItemToObject(o, "bundle", pf_manifest_bundle_json(p, true));
	if (pf_pte_has_program(p)) {
		add_u64(o, "schema_version", p->schema_version);
		a = cJSON_AddArrayToObject(o, "methods");
		for (size_t i = 0; i < p->n_methods; i++) {
			const pf_pte_method *m = &p->methods[i];
			x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "name", m->name ? m->name : "");
			add_u64(x, "inputs", m->n_inputs);
			add_u64(x, "outputs", m->n_outputs);
			add_u64(x, "values", m->n_values);
			add_u64(x, "instructions", m->n_instructions);
			add_u64(x, "operators", m->n_operators);
			add_u64(x, "planned_memory_bytes", m->planned_bytes);
			add_u64(x, "planned_buffers", m->n_planned_buffers);
			cJSON_AddItemToObject(x, "delegates", json_strings(m->delegates, m->n_delegates));
			cJSON_AddBoolToObject(x, "is_constant", m->is_constant);
			cJSON_AddItemToArray(a, x);
		}
		add_u64(o, "runnable_methods", pf_pte_n_runnable_methods(p));
		cJSON_AddItemToObject(o, "metadata", pf_manifest_metadata_json(p));
		cJSON_AddItemToObject(o, "backends", json_strings(p->backends, p->n_backends));
		add_u64(o, "constant_buffers", p->n_constant_buffers);
		add_u64(o, "constant_bytes", p->constant_bytes);
		cJSON_AddItemToObject(o, "named_data_keys", json_strings(p->named_data_keys, p->n_named_data));
		cJSON_AddItemToObject(o, "external_keys", json_strings(p->external_keys, p->n_external));
		add_u64(o, "min_free_ram_bytes", pf_pte_min_free_ram(p->file_size));
		add_u64(o, "planned_memory_bytes", pf_pte_max_planned_bytes(p));
		add_u64(o, "runtime_memory_bytes", pf_pte_runtime_bytes(p));
	}
	a = cJSON_AddArrayToObject(o, "segments");
	for (size_t i = 0; i < p->n_segments; i++) {
		x = cJSON_CreateObject();
		add_u64(x, "offset", p->segments[i].offset);
		add_u64(x, "size", p->segments[i].size);
		if (p->segment_base_offset)
			add_u64(x, "file_offset",
			        p->segments[i].offset + p->segment_base_offset + p->bundled_program_offset);
		cJSON_AddItemToArray(a, x);
	}
	add_u64(o, "segment_bytes", p->segment_bytes);
	/* .pte: EXTERNAL tensors; .ptd: keys with a tensor layout. */
	a = cJSON_AddArrayToObject(o, "tensor_layouts");
	for (size_t i = 0; i < p->n_layouts; i++) {
		const pf_pte_layout *l = &p->layouts[i];
		cJSON *dims = cJSON_CreateArray();
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "name", l->name);
		add_u64(x, "scalar_type", l->scalar_type);
		for (uint32_t d = 0; d < l->n_dims && d < PF_PTE_MAX_DIMS; d++)
			cJSON_AddItemToArray(dims, cJSON_CreateNumber(l->sizes[d]));
		cJSON_AddItemToObject(x, "sizes", dims);
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(o, "findings");
	for (size_t i = 0; i < p->n_findings; i++) {
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "severity", p->findings[i].severity == PF_PTE_FATAL ? "fatal" : "warn");
		cJSON_AddStringToObject(x, "message", p->findings[i].message);
		cJSON_AddItemToArray(a, x);
	}
	add_u64(o, "fatal_count", p->n_fatal);
	add_u64(o, "warn_count", p->n_warn);
	add_u64(o, "findings_dropped", p->n_findings_dropped);
	return o;
}

int cmd_inspect(int argc, char **argv)
{
	pf_pte_info *info = NULL;
	const char *path = NULL;
	bool json = false, options_done = false;
	cJSON *doc = NULL;
	char *text = NULL;
	int code, err;

	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("inspect");
	for (int i = 1; i < argc; i++) {
		if (!options_done && !strcmp(argv[i], "--")) {
			options_done = true;
		} else if (!options_done && !strcmp(argv[i], "--json")) {
			json = true;
		} else if (!options_done && argv[i][0] == '-' && argv[i][1] != '\0') {
			return pf_cli_usage_error("inspect", "unknown option \"%s\"", argv[i]);
		} else if (path) {
			return pf_cli_usage_error("inspect", "one FILE only, got \"%s\" and \"%s\"", path, argv[i]);
		} else {
			path = argv[i];
		}
	}
	if (!path)
		return pf_cli_usage_error("inspect", "missing FILE (a .pte, .ptd or .bpte)");
	err = pf_pte_inspect_file(&info, path);
	if (err < 0) {
		pf_log_error("%s", pf_error_last());
		return PF_EXIT_ENV;
	}
	code = pf_pte_ok(info) ? PF_EXIT_OK : PF_EXIT_FAILED;
	if (json) {
		doc = json_info(path, info);
		text = cJSON_Print(doc);
		if (text)
			printf("%s\n", text);
	} else {
		print_table(path, info);
	}
	cJSON_free(text);
	cJSON_Delete(doc);
	pf_pte_info_free(info);
	return pf_cli_finish_stdout(code);
}
