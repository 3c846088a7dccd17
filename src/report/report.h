/*
 * `pteflow report`: one self-contained HTML page from a manifest.json, to
 * open from a CI artifact as it is: per step the memory curve (inline SVG)
 * against its limit and its predicted interval, its phases and duration;
 * per artifact its size against its gates; the KPI figures when the
 * manifest has a "kpi" section; the verdicts. No script, no network, no
 * external file. The manifest is untrusted (it travels with a release):
 * every string is escaped, every field type-checked, sizes bounded.
 */
#ifndef PF_REPORT_REPORT_H
#define PF_REPORT_REPORT_H

#include <stddef.h>

/*
 * The page for the manifest text `json` (`len` bytes, at most
 * PF_MANIFEST_MAX_BYTES, nesting at most PF_MANIFEST_MAX_DEPTH). *out is
 * heap (caller frees). PF_EINVALID when it is not a manifest.
 */
int pf_report_render(char **out, const char *json, size_t len);

/* Read `manifest_path`, render, write `out_path` atomically. PF_ENOTFOUND, PF_EINVALID or PF_EENV. */
int pf_report_write(const char *manifest_path, const char *out_path);

#endif
