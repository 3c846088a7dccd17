/*
 * The Python environment of the export steps, as `pteflow setup` makes it
 * (and scripts/setup-python.sh in a checkout, with the same layout, so both
 * share one environment): a virtual environment per requirements file,
 * <cache>/venv-<first 16 hex of the file's SHA-256>, where <cache> is
 * $PTEFLOW_CACHE, else $XDG_CACHE_HOME/pteflow, else ~/.cache/pteflow; a
 * finished one holds .complete (an interrupted build is redone from scratch);
 * <cache>/current points at the last one set up, and is what `run` uses as
 * ${python} when --python is not given.
 */
#ifndef PF_RUN_PYENV_H
#define PF_RUN_PYENV_H

#include <stdbool.h>

typedef struct pf_pyenv_opts {
	const char *requirements; /* NULL: requirements.txt beside the pteflow_steps package found */
	const char *base_python;  /* interpreter that creates the venv; NULL: $PTEFLOW_BASE_PYTHON or python3 */
	bool check_only;          /* do not create: PF_ENOTFOUND when it is not there */
} pf_pyenv_opts;

typedef struct pf_pyenv {
	char *python; /* <venv>/bin/python */
	char *venv;
	char *requirements;
	char *cache;
	bool created;      /* made by this call */
	long long seconds; /* time it took to create */
} pf_pyenv;

/*
 * Find or create the environment; on success *out is filled (dispose with
 * pf_pyenv_dispose). pip's output goes to stderr. PF_ENOTFOUND: no
 * requirements file (or check_only and no environment); PF_EENV: the venv or
 * pip failed (the environment is removed, nothing half-made stays).
 */
int pf_pyenv_setup(pf_pyenv *out, const pf_pyenv_opts *opts);
void pf_pyenv_dispose(pf_pyenv *env);

/* <cache> as above (heap; caller frees), or NULL when neither variable nor HOME is set. */
char *pf_pyenv_cache_dir(void);

#endif
