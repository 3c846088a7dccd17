/*
 * The host a run records (OS, CPUs, memory, the guard `auto` picks) and the
 * interpreter it uses: --python, else $PTEFLOW_PYTHON, else the environment
 * `pteflow setup` / scripts/setup-python.sh point <cache>/current at, else
 * python3. Also whether a step's program can be found before it is started.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "guard/guard.h"
#include "run/internal.h"
#include "run/run.h"
#include "util/fs.h"
#include "util/mem.h"

static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *pf_run_find_python(const char *override)
{
	const char *env = getenv("PTEFLOW_PYTHON");
	const char *cache = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *candidate = NULL;
	if (override && override[0])
		return pf_xstrdup(override);
	if (env && env[0])
		return pf_xstrdup(env);
	/* scripts/setup-python.sh points <cache>/pteflow/current at the venv it built. */
	if (cache && cache[0])
		candidate = pf_xasprintf("%s/pteflow/current/bin/python", cache);
	else if (home && home[0])
		candidate = pf_xasprintf("%s/.cache/pteflow/current/bin/python", home);
	if (candidate && is_executable(candidate))
		return candidate;
	free(candidate);
	return pf_xstrdup("python3");
}

/* Find `name` in PATH when it has no slash; true if it can be executed. */
bool run_program_exists(const char *name)
{
	const char *path = getenv("PATH");
	bool found = false;
	char *copy, *save = NULL;
	if (strchr(name, '/'))
		return is_executable(name);
	if (!path)
		return false;
	copy = pf_xstrdup(path);
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *full = pf_fs_join(dir[0] ? dir : ".", name);
		found = is_executable(full);
		free(full);
	}
	free(copy);
	return found;
}

void pf_run_host(pf_host_record *out)
{
	struct utsname u;
	char host[256] = "";
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES);
	long page_size = sysconf(_SC_PAGESIZE);
	uint64_t avail = 0;
	memset(out, 0, sizeof(*out));
	if (uname(&u) == 0)
		out->os = pf_xasprintf("%s %s %s", u.sysname, u.release, u.machine);
	else
		out->os = pf_xstrdup("unknown");
	if (gethostname(host, sizeof(host) - 1) == 0)
		out->hostname = pf_xstrdup(host);
	out->cpu_count = cpus > 0 ? (unsigned)cpus : 1;
	if (pages > 0 && page_size > 0)
		out->memory_bytes = (uint64_t)pages * (uint64_t)page_size;
	if (pf_guard_available(&avail) == 0)
		out->memory_available_bytes = avail;
	out->guard_auto = pf_xstrdup(pf_guard_mode_name(pf_guard_detect()));
}
