/*
 * Benchmark driver for bench/bench_guard.sh: runs one command as a step
 * through pf_proc_run under a given memory guard and prints the outcome as
 * one JSON line on stdout (end, wall time, peak, limit, guard detail). Built
 * by the script against a non-sanitized build of the proc/guard/util
 * libraries; not part of pteflow itself.
 *
 *   guard_driver MODE LIMIT_MIB COMMAND [ARG...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"
#include "proc/proc.h"
#include "util/error.h"

extern char **environ;

int main(int argc, char **argv)
{
	pf_proc_spec spec;
	pf_proc_result r;
	pf_guard_mode mode;
	char *end;
	unsigned long long limit_mib;
	if (argc < 4) {
		fprintf(stderr, "usage: guard_driver MODE LIMIT_MIB COMMAND [ARG...]\n");
		return 2;
	}
	if (pf_guard_mode_parse(&mode, argv[1]) != 0) {
		fprintf(stderr, "guard_driver: %s\n", pf_error_last());
		return 2;
	}
	limit_mib = strtoull(argv[2], &end, 10);
	if (end == argv[2] || *end) {
		fprintf(stderr, "guard_driver: bad limit \"%s\"\n", argv[2]);
		return 2;
	}
	memset(&spec, 0, sizeof(spec));
	spec.name = "bench";
	spec.argv = argv + 3;
	spec.envp = environ;
	spec.guard_mode = mode;
	spec.memory_limit_bytes = limit_mib * 1024ULL * 1024ULL;
	spec.timeout_ms = 60000;
	if (pf_proc_run(&r, &spec) != 0) {
		fprintf(stderr, "guard_driver: %s\n", pf_error_last());
		return 3;
	}
	printf("{\"mode\":\"%s\",\"end\":\"%s\",\"wall_ms\":%llu,\"peak_bytes\":%llu,\"limit_bytes\":%llu,"
	       "\"peak_from_cgroup\":%s}\n",
	       pf_guard_mode_name(r.guard.mode), pf_proc_end_name(r.end), (unsigned long long)r.wall_ms,
	       (unsigned long long)r.guard.peak_bytes, (unsigned long long)r.guard.limit_bytes,
	       r.guard.peak_from_cgroup ? "true" : "false");
	return r.end == PF_END_OK || r.end == PF_END_MEMORY ? 0 : 1;
}
