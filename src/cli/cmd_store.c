/*
 * `pteflow store ls|gc`: look after the store of step outputs that
 * incremental runs restore from (src/cache/store.h).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/store.h"
#include "cli/cli.h"
#include "pipeline/pipeline.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/text.h"

const char pf_usage_store[] =
	"usage: pteflow store ls [--json] [--store DIR]\n"
	"       pteflow store gc --max-size SIZE [--dry-run] [--json] [--store DIR]\n\n"
	"The store keeps each step's outputs, log and result under the step's fingerprint, so\n"
	"'pteflow run' restores a step that has not changed instead of running it.\n\n"
	"commands:\n"
	"  ls        list the entries, least recently used first: fingerprint, pipeline,\n"
	"            target, step, when it ran, when it was last used, size\n"
	"  gc        remove least recently used entries until the stored files take at most\n"
	"            SIZE (e.g. 20GB, 512MiB; 0 empties the store), then every file no entry\n"
	"            refers to and leftovers of interrupted copies; runs in progress wait\n\n"
	"options:\n"
	"      --max-size SIZE  gc: the size to bring the store under\n"
	"  -n, --dry-run        gc: say what would be removed, remove nothing\n"
	"      --store DIR      the store (default: $PTEFLOW_STORE, else ~/.cache/pteflow/store)\n"
	"      --json           print a JSON object instead of a table\n"
	"  -h, --help           show this help\n\n"
	"A store may be shared: nothing in it is followed (a symbolic link in place of a store\n"
	"folder makes it unusable, exit 3), control characters in records are shown as \\xNN,\n"
	"and lock waits give up after PTEFLOW_STORE_LOCK_TIMEOUT seconds (default 600).\n\n"
	"exit codes: 0 done; 2 bad usage; 3 the store cannot be opened or read.\n";

static char *iso(time_t t)
{
	struct tm tm;
	char buf[32];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return pf_xstrdup(buf);
}

static int store_ls(pf_store *s, bool json)
{
	pf_store_entry **v = NULL;
	size_t n = 0;
	uint64_t total = 0;
	int rc = pf_store_list(&v, &n, s);
	if (rc < 0)
		return pf_cli_fail(rc);
	if (json) {
		cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
		char *text;
		cJSON_AddStringToObject(o, "store", pf_store_dir(s));
		for (size_t i = 0; i < n; i++) {
			cJSON *e = cJSON_CreateObject();
			char *used = iso(v[i]->last_used);
			cJSON_AddStringToObject(e, "fingerprint", v[i]->fingerprint);
			cJSON_AddStringToObject(e, "pipeline", v[i]->pipeline);
			if (v[i]->target)
				cJSON_AddStringToObject(e, "target", v[i]->target);
			else
				cJSON_AddNullToObject(e, "target");
			cJSON_AddStringToObject(e, "step", v[i]->step);
			cJSON_AddStringToObject(e, "created_utc", v[i]->created_utc);
			cJSON_AddStringToObject(e, "last_used_utc", used);
			cJSON_AddNumberToObject(e, "size", (double)v[i]->bytes);
			cJSON_AddNumberToObject(e, "outputs", (double)v[i]->n_outputs);
			cJSON_AddNumberToObject(e, "duration_ms", (double)v[i]->wall_ms);
			cJSON_AddNumberToObject(e, "peak_memory_bytes", (double)v[i]->peak_bytes);
			cJSON_AddItemToArray(arr, e);
			total += v[i]->bytes;
			free(used);
		}
		cJSON_AddItemToObject(o, "entries", arr);
		cJSON_AddNumberToObject(o, "entries_size", (double)total);
		text = cJSON_Print(o);
		printf("%s\n", text ? text : "{}");
		cJSON_free(text);
		cJSON_Delete(o);
	} else {
		printf("store %s: %zu entr%s\n", pf_store_dir(s), n, n == 1 ? "y" : "ies");
		for (size_t i = 0; i < n; i++) {
			/* a record is anyone's file in a shared store: no raw control character reaches the terminal */
			char *used = iso(v[i]->last_used), *size = pf_format_size(v[i]->bytes);
			char *pipeline = pf_text_printable(v[i]->pipeline), *target = pf_text_printable(v[i]->target);
			char *step = pf_text_printable(v[i]->step), *ran = pf_text_printable(v[i]->created_utc);
			printf("  %.12s  %s%s%s / %s  ran %s  used %s  %s\n", v[i]->fingerprint, pipeline,
			       v[i]->target ? " / " : "", v[i]->target ? target : "", step, ran, used, size);
			total += v[i]->bytes;
			free(used);
			free(size);
			free(pipeline);
			free(target);
			free(step);
			free(ran);
		}
	}
	for (size_t i = 0; i < n; i++)
		pf_store_entry_free(v[i]);
	free(v);
	return 0;
}

static int store_gc(pf_store *s, uint64_t max_bytes, bool dry_run, bool json)
{
	pf_store_gc_report r;
	int rc = pf_store_gc(&r, s, max_bytes, dry_run);
	if (rc < 0)
		return pf_cli_fail(rc);
	if (json) {
		printf("{\"store\": \"%s\", \"dry_run\": %s, \"entries_removed\": %zu, \"entries_kept\": %zu, "
		       "\"objects_removed\": %zu, \"leftovers_removed\": %zu, \"bytes_before\": %llu, "
		       "\"bytes_after\": %llu}\n",
		       pf_store_dir(s), dry_run ? "true" : "false", r.entries_removed, r.entries_kept,
		       r.objects_removed, r.broken_removed, (unsigned long long)r.bytes_before,
		       (unsigned long long)r.bytes_after);
	} else {
		char *before = pf_format_size(r.bytes_before), *after = pf_format_size(r.bytes_after);
		printf("store %s: %s%zu entr%s removed, %zu kept; %zu files and %zu leftovers removed; %s -> %s\n",
		       pf_store_dir(s), dry_run ? "(dry run) " : "", r.entries_removed,
		       r.entries_removed == 1 ? "y" : "ies", r.entries_kept, r.objects_removed, r.broken_removed,
		       before, after);
		free(before);
		free(after);
	}
	return 0;
}

int cmd_store(int argc, char **argv)
{
	const char *verb = NULL, *dir = NULL, *max = NULL;
	bool json = false, dry_run = false;
	uint64_t max_bytes = 0;
	pf_store *s = NULL;
	int code;
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("store");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--dry-run")) {
			dry_run = true;
		} else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			pf_log_set_quiet(true);
		} else if (!strcmp(argv[i], "--store") || !strcmp(argv[i], "--max-size")) {
			if (i + 1 >= argc)
				return pf_cli_usage_error("store", "%s needs a value", argv[i]);
			*(!strcmp(argv[i], "--store") ? &dir : &max) = argv[i + 1];
			i++;
		} else if (argv[i][0] == '-') {
			return pf_cli_usage_error("store", "unknown option \"%s\"", argv[i]);
		} else if (!verb) {
			verb = argv[i];
		} else {
			return pf_cli_usage_error("store", "unexpected argument \"%s\"", argv[i]);
		}
	}
	if (!verb)
		return pf_cli_usage_error("store", "a store command is required: ls or gc");
	if (strcmp(verb, "ls") && strcmp(verb, "gc"))
		return pf_cli_usage_error("store", "unknown store command \"%s\": use ls or gc", verb);
	if (!strcmp(verb, "gc")) {
		if (!max)
			return pf_cli_usage_error("store", "gc needs --max-size SIZE (e.g. 20GB; 0 empties the store)");
		if (pf_parse_size(&max_bytes, max) < 0)
			return pf_cli_usage_error("store", "--max-size: %s", pf_error_last());
	} else if (max || dry_run) {
		return pf_cli_usage_error("store", "--max-size and --dry-run go with gc");
	}
	if (pf_store_open(&s, dir) < 0)
		return pf_cli_fail(PF_EENV);
	code = !strcmp(verb, "ls") ? store_ls(s, json) : store_gc(s, max_bytes, dry_run, json);
	pf_store_free(s);
	return pf_cli_finish_stdout(code);
}
