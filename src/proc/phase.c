/*
 * Phase markers in a step's output (proc.h): "PTEFLOW_PHASE=<name>" lines
 * that label the memory curve (load, quantize, export, lower, serialize).
 * The output is untrusted and arrives in reads of any size: a byte-at-a-time
 * scan with a fixed state, nothing allocated, nothing kept but the name.
 * Workload: every byte a step prints (megabytes at most), one branch each.
 */
#include <string.h>

#include "proc/proc.h"

#define PREFIX_LEN (sizeof(PF_PROC_PHASE_PREFIX) - 1)

void pf_proc_phase_scan_init(pf_proc_phase_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

static void end_line(pf_proc_phase_scan *sc, uint32_t t_ms, pf_proc_result *out)
{
	if (!sc->skip && sc->col > PREFIX_LEN && sc->len > 0) {
		if (out->n_phases < PF_PROC_MAX_PHASES) {
			pf_proc_phase *ph = &out->phases[out->n_phases++];
			memcpy(ph->name, sc->name, sc->len);
			ph->name[sc->len] = '\0';
			ph->t_ms = t_ms;
		} else {
			out->n_phases_dropped++;
		}
	}
	pf_proc_phase_scan_init(sc);
}

void pf_proc_phase_feed(pf_proc_phase_scan *sc, const char *p, size_t n, uint32_t t_ms, pf_proc_result *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		/* CR ends a line too: progress bars redraw with it, and a marker may follow one */
		if (c == '\n' || c == '\r') {
			end_line(sc, t_ms, out);
			continue;
		}
		if (sc->skip)
			continue;
		if (sc->col < PREFIX_LEN)
			sc->skip = c != PF_PROC_PHASE_PREFIX[sc->col];
		else if (name_char(c) && sc->len < PF_PROC_PHASE_NAME_MAX - 1)
			sc->name[sc->len++] = c;
		else
			sc->skip = true;
		sc->col++;
	}
}
