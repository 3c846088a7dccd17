/*
 * Step environments. The allowlist keeps what a Python export needs to run
 * (paths, locale, temp folder, thread counts, Hugging Face cache locations)
 * and drops everything else, notably tokens and cloud credentials.
 */
#define _GNU_SOURCE
#include "run/steps_env.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

const char *const pf_steps_env_allowlist[] = {
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "TMPDIR",
	"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
	"HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_ENDPOINT", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME",
	"VIRTUAL_ENV", "CI", "GITHUB_ACTIONS", NULL,
};

static size_t env_add(char ***envp, size_t n, char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t klen = eq ? (size_t)(eq - entry) + 1 : strlen(entry);
	for (size_t i = 0; i < n; i++) {
		if (strncmp((*envp)[i], entry, klen) == 0) {
			free((*envp)[i]);
			(*envp)[i] = entry;
			return n;
		}
	}
	*envp = pf_xreallocarray(*envp, n + 2, sizeof(char *));
	(*envp)[n] = entry;
	(*envp)[n + 1] = NULL;
	return n + 1;
}

int pf_steps_env_build(char ***out, const pf_step *step, const pf_interp_ctx *ictx, const char *steps_path,
		       const char *out_dir, const char *result_path)
{
	char **envp = pf_xcalloc(1, sizeof(char *));
	size_t n = 0;
	const char *pp = getenv("PYTHONPATH");
	for (size_t i = 0; pf_steps_env_allowlist[i]; i++) {
		const char *v = getenv(pf_steps_env_allowlist[i]);
		if (v)
			n = env_add(&envp, n, pf_xasprintf("%s=%s", pf_steps_env_allowlist[i], v));
	}
	n = env_add(&envp, n, pf_xasprintf("PTEFLOW_OUT=%s", out_dir));
	n = env_add(&envp, n, pf_xasprintf("PTEFLOW_STEP=%s", step->name));
	n = env_add(&envp, n, pf_xasprintf("PTEFLOW_RESULT=%s", result_path));
	n = env_add(&envp, n, pf_xstrdup("PYTHONUNBUFFERED=1"));
	if (step->kpi && step->kpi->soak_turns) /* read by python/pteflow_steps/kpi.py */
		n = env_add(&envp, n, pf_xasprintf("PTEFLOW_KPI_TURNS=%llu", (unsigned long long)step->kpi->soak_turns));
	if (step->kpi && step->kpi->soak_duration_ms)
		n = env_add(&envp, n,
			    pf_xasprintf("PTEFLOW_KPI_DURATION_MS=%llu", (unsigned long long)step->kpi->soak_duration_ms));
	if (steps_path)
		n = env_add(&envp, n,
			    pp && pp[0] ? pf_xasprintf("PYTHONPATH=%s:%s", steps_path, pp)
					: pf_xasprintf("PYTHONPATH=%s", steps_path));
	else if (pp)
		n = env_add(&envp, n, pf_xasprintf("PYTHONPATH=%s", pp));
	for (size_t i = 0; i < step->n_env; i++) {
		char *value = NULL;
		int rc = pf_interp_expand(&value, step->env[i].value, ictx);
		if (rc < 0) {
			pf_strv0_free(envp);
			return pf_error_code(PF_EINVALID, "env \"%s\": %s", step->env[i].key, pf_error_last());
		}
		n = env_add(&envp, n, pf_xasprintf("%s=%s", step->env[i].key, value));
		free(value);
	}
	*out = envp;
	return 0;
}

static char *has_package(char *dir)
{
	char *pkg = pf_fs_join(dir, "pteflow_steps/__init__.py");
	bool ok = pf_fs_exists(pkg);
	free(pkg);
	if (ok)
		return dir;
	free(dir);
	return NULL;
}

char *pf_steps_env_installed_dir(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	if (n <= 0 || (size_t)n >= sizeof(exe) - 1)
		return NULL;
	exe[n] = '\0';
	/* <prefix>/bin/pteflow -> <prefix>/share/pteflow (cmake --install, the .deb) */
	if ((slash = strrchr(exe, '/')) == NULL)
		return NULL;
	*slash = '\0';
	if ((slash = strrchr(exe, '/')) == NULL || strcmp(slash, "/bin") != 0)
		return NULL;
	*slash = '\0';
	return pf_xasprintf("%s/share/pteflow", exe);
}

char *pf_steps_env_find_package(const char *pipeline_dir)
{
	const char *env = getenv("PTEFLOW_STEPS_PATH");
	char *found, *share;
	if (env && env[0])
		return pf_xstrdup(env);
	if (pipeline_dir && (found = has_package(pf_xasprintf("%s/../python", pipeline_dir))) != NULL)
		return found;
	if ((share = pf_steps_env_installed_dir()) != NULL) {
		found = has_package(pf_xasprintf("%s/python", share));
		free(share);
		if (found)
			return found;
	}
#ifdef PTEFLOW_SOURCE_DIR
	if ((found = has_package(pf_xstrdup(PTEFLOW_SOURCE_DIR "/python"))) != NULL)
		return found;
#endif
	return NULL;
}
