/*
 * `pteflow setup`: the export steps' virtual environment, found or made (see
 * pyenv.h for the layout, shared with scripts/setup-python.sh). Made once per
 * requirements file (minutes: pip downloads about 6 GB of wheels), then found
 * in a stat. The two commands it runs (python -m venv, pip install) inherit
 * stderr; their stdout goes to stderr too, as stdout is pteflow's result.
 */
#define _GNU_SOURCE
#include "run/pyenv.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run/steps_env.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

extern char **environ;

char *pf_pyenv_cache_dir(void)
{
	const char *own = getenv("PTEFLOW_CACHE");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (own && own[0])
		return pf_xstrdup(own);
	if (xdg && xdg[0])
		return pf_xasprintf("%s/pteflow", xdg);
	if (home && home[0])
		return pf_xasprintf("%s/.cache/pteflow", home);
	return NULL;
}

/* Run argv with stdout sent to stderr; 0 when it exits 0. */
static int run_quietly(const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = 0, rc;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	/* posix_spawnp's argv is char *const[] for historical reasons; it does not write to it */
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return pf_error_code(PF_EENV, "cannot start \"%s\": %s", argv[0], strerror(rc));
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return pf_error_code(PF_EENV, "waiting for \"%s\": %s", argv[0], strerror(errno));
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return pf_error_code(PF_EENV, "\"%s %s\" exited with status %d", argv[0], argv[1], WEXITSTATUS(status));
	return pf_error_code(PF_EENV, "\"%s %s\" was killed by signal %d", argv[0], argv[1], WTERMSIG(status));
}

/* <cache>/current -> venv, replaced atomically (a symlink under a temporary name, then rename). */
static int point_current(const char *cache, const char *venv)
{
	char *cur = pf_fs_join(cache, "current");
	char *tmp = pf_xasprintf("%s.tmp.%ld", cur, (long)getpid());
	int rc = 0;
	unlink(tmp);
	if (symlink(venv, tmp) != 0 || rename(tmp, cur) != 0) {
		rc = pf_error_code(PF_EENV, "cannot point \"%s\" at \"%s\": %s", cur, venv, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	free(cur);
	return rc;
}

static int create(const char *venv, const char *req, const char *base)
{
	char *pip = pf_fs_join(venv, "bin/pip");
	char *done = pf_fs_join(venv, ".complete");
	const char *venv_argv[] = {base, "-m", "venv", venv, NULL};
	const char *pip_argv[] = {pip, "install", "-q", "--disable-pip-version-check", "-r", req, NULL};
	int rc;
	if ((rc = pf_fs_remove_tree(venv)) < 0)
		goto done;
	pf_log_info("setup: creating \"%s\" from \"%s\" (first time: pip downloads about 6 GB of wheels, "
	            "minutes)",
	            venv, req);
	if ((rc = run_quietly(venv_argv)) < 0 || (rc = run_quietly(pip_argv)) < 0 ||
	    (rc = pf_fs_write_atomic(done, "", 0)) < 0) {
		pf_fs_remove_tree(venv);
		goto done;
	}
done:
	free(pip);
	free(done);
	return rc;
}

int pf_pyenv_setup(pf_pyenv *out, const pf_pyenv_opts *opts)
{
	char hex[65];
	char *steps = NULL, *done = NULL;
	const char *base = opts->base_python ? opts->base_python : getenv("PTEFLOW_BASE_PYTHON");
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (!base || !base[0])
		base = "python3";
	if (opts->requirements) {
		out->requirements = pf_fs_absolute(opts->requirements);
	} else if ((steps = pf_steps_env_find_package(NULL)) != NULL) {
		out->requirements = pf_fs_join(steps, "requirements.txt");
	} else {
		rc = pf_error_code(PF_ENOTFOUND, "no pteflow_steps package found to read requirements.txt beside; "
		                                 "pass --requirements FILE or set PTEFLOW_STEPS_PATH");
		goto done;
	}
	if ((rc = pf_sha256_file(hex, NULL, out->requirements)) < 0) {
		rc = pf_error_code(PF_ENOTFOUND, "cannot read \"%s\": %s", out->requirements, pf_error_last());
		goto done;
	}
	if ((out->cache = pf_pyenv_cache_dir()) == NULL) {
		rc = pf_error_code(PF_EENV, "no cache folder: set PTEFLOW_CACHE, XDG_CACHE_HOME or HOME");
		goto done;
	}
	hex[16] = '\0';
	out->venv = pf_xasprintf("%s/venv-%s", out->cache, hex);
	out->python = pf_fs_join(out->venv, "bin/python");
	done = pf_fs_join(out->venv, ".complete");
	if (!pf_fs_exists(done) || access(out->python, X_OK) != 0) {
		time_t t0 = time(NULL);
		if (opts->check_only) {
			rc = pf_error_code(PF_ENOTFOUND, "no environment for \"%s\" at \"%s\"; run 'pteflow setup'",
			                   out->requirements, out->venv);
			goto done;
		}
		if ((rc = pf_fs_mkdir_p(out->cache)) < 0 || (rc = create(out->venv, out->requirements, base)) < 0)
			goto done;
		out->created = true;
		out->seconds = (long long)(time(NULL) - t0);
	}
	rc = point_current(out->cache, out->venv);
done:
	free(steps);
	free(done);
	if (rc < 0)
		pf_pyenv_dispose(out);
	return rc;
}

void pf_pyenv_dispose(pf_pyenv *env)
{
	if (!env)
		return;
	free(env->python);
	free(env->venv);
	free(env->requirements);
	free(env->cache);
	memset(env, 0, sizeof(*env));
}
