/*
 * Admission for src/run/: is there room for a step that expects N bytes?
 * The figure is the smaller of MemAvailable and the room left under every
 * cgroup limit from pteflow's own group up (v1 and v2). Once per step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/internal.h"
#include "guard/tree.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

static void fmt_gib(char *buf, size_t cap, uint64_t bytes)
{
	if (bytes >= (1ULL << 30))
		snprintf(buf, cap, "%.1f GiB", (double)bytes / (double)(1ULL << 30));
	else
		snprintf(buf, cap, "%.0f MiB", (double)bytes / (double)(1ULL << 20));
}

/* Smallest (limit - usage) from our own cgroup up to the mount, v1 and v2. */
static uint64_t cgroup_room(void)
{
	uint64_t room = UINT64_MAX;
	for (int v = 1; v <= 2; v++) {
		char *dir = pf_guard_own_cgroup_dir(v, NULL);
		const char *lim_name = v == 1 ? "memory.limit_in_bytes" : "memory.max";
		const char *use_name = v == 1 ? "memory.usage_in_bytes" : "memory.current";
		while (dir) {
			uint64_t lim, use = 0;
			char *lf = pf_guard_cg_file(dir, lim_name), *uf = pf_guard_cg_file(dir, use_name);
			char *slash;
			bool have = pf_guard_read_u64(lf, &lim);
			free(lf);
			if (have && lim < (1ULL << 62) && pf_guard_read_u64(uf, &use)) {
				uint64_t r = lim > use ? lim - use : 0;
				if (r < room)
					room = r;
			}
			free(uf);
			slash = strrchr(dir, '/');
			if (slash && slash != dir)
				*slash = '\0';
			if (!slash || slash == dir || !pf_guard_file_exists_in(dir, lim_name)) {
				free(dir);
				dir = NULL;
			}
		}
	}
	return room;
}

int pf_guard_available(uint64_t *out_bytes)
{
	const char *test = getenv(PF_GUARD_TEST_MEMAVAILABLE_ENV);
	uint64_t avail = 0, room;
	char buf[8192], *p;
	if (test && *test) {
		char *end;
		unsigned long long v;
		errno = 0;
		v = strtoull(test, &end, 10);
		if (end == test || *end || errno)
			return pf_error_code(PF_EINVALID, "\"%s\" must be a byte count",
			                     PF_GUARD_TEST_MEMAVAILABLE_ENV);
		*out_bytes = (uint64_t)v;
		return 0;
	}
	if (pf_guard_tree_read_small("/proc/meminfo", buf, sizeof(buf)) <= 0)
		return pf_error_code(PF_EENV, "cannot read \"/proc/meminfo\": is /proc mounted?");
	p = strstr(buf, "MemAvailable:");
	if (!p)
		return pf_error_code(PF_EENV, "\"/proc/meminfo\" has no MemAvailable line: the kernel is too old");
	avail = strtoull(p + 13, NULL, 10) * 1024ULL;
	room = cgroup_room();
	*out_bytes = room < avail ? room : avail;
	return 0;
}

int pf_guard_admit(const char *step_name, uint64_t expect_bytes, bool force)
{
	uint64_t avail;
	char need[32], have[32];
	int rc = pf_guard_available(&avail);
	if (rc != 0)
		return rc;
	if (expect_bytes <= avail)
		return 0;
	fmt_gib(need, sizeof(need), expect_bytes);
	fmt_gib(have, sizeof(have), avail);
	if (force) {
		pf_log_warn("step \"%s\" needs about %s, this host has %s available: running it anyway (--force)",
		            step_name, need, have);
		return 0;
	}
	return pf_error_code(PF_ELIMIT,
	                     "step \"%s\" needs about %s, this host has %s available: raise the limit, quantize first, "
	                     "or run the export on a CI runner; --force runs it anyway",
	                     step_name, need, have);
}
