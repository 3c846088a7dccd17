/*
 * Which files of a Python package a module can import, read from the source
 * without running Python: the module, every package __init__.py on its way,
 * and, transitively, each module of the same package it imports
 * (`from . import x`, `from .x import y`, `from pkg.x import y`,
 * `import pkg.x`), wherever the import stands (lazy imports in functions
 * count). Imports built at run time (importlib, __import__) are not seen:
 * a step that uses them declares the files in `inputs:`.
 */
#ifndef PF_CACHE_PYDEPS_H
#define PF_CACHE_PYDEPS_H

#include <stddef.h>

/*
 * The closure of `module` ("pteflow_steps.check") under `root` (the folder
 * that holds the package folder). *out receives sorted paths relative to
 * root ("pteflow_steps/__init__.py", ...), heap; free with pf_strv_free.
 * PF_ENOTFOUND when the module has no source file under root.
 */
int pf_pydeps_closure(char ***out, size_t *n_out, const char *root, const char *module);

/* Every .py file of the package `package` under root (sorted, relative), for steps run another way. */
int pf_pydeps_package(char ***out, size_t *n_out, const char *root, const char *package);

#endif
