/*
 * Phase markers in a step's output (src/proc/phase.c): found in reads cut
 * anywhere, timed by the read that completes the line, and only exact
 * "PTEFLOW_PHASE=<name>" lines count.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "proc/proc.h"

static void feed(pf_proc_phase_scan *sc, pf_proc_result *r, const char *text, uint32_t t_ms)
{
	pf_proc_phase_feed(sc, text, strlen(text), t_ms, r);
}

Test(proc_phase, markers_split_across_reads_are_found_and_timed)
{
	pf_proc_phase_scan sc;
	pf_proc_result r;
	memset(&r, 0, sizeof(r));
	pf_proc_phase_scan_init(&sc);
	feed(&sc, &r, "loading\nPTEFLOW_PH", 5);
	feed(&sc, &r, "ASE=load\nsome output\nPTEFLOW_PHASE=quant", 10);
	feed(&sc, &r, "ize\r\nPTEFLOW_PHASE=export\n", 30);
	cr_assert_eq(r.n_phases, 3);
	cr_assert_str_eq(r.phases[0].name, "load");
	cr_assert_eq(r.phases[0].t_ms, 10);
	cr_assert_str_eq(r.phases[1].name, "quantize");
	cr_assert_eq(r.phases[1].t_ms, 30);
	cr_assert_str_eq(r.phases[2].name, "export");
}

Test(proc_phase, other_lines_are_not_markers)
{
	pf_proc_phase_scan sc;
	pf_proc_result r;
	memset(&r, 0, sizeof(r));
	pf_proc_phase_scan_init(&sc);
	feed(&sc, &r, "echo PTEFLOW_PHASE=quoted\n", 1);
	feed(&sc, &r, "PTEFLOW_PHASE=\n", 1);
	feed(&sc, &r, "PTEFLOW_PHASE=has space\n", 1);
	feed(&sc, &r, "PTEFLOW_PHASE=<script>\n", 1);
	feed(&sc, &r, "PTEFLOW_PHASE=abcdefghijklmnopqrstuvwxyz0123456\n", 1); /* 32 characters */
	feed(&sc, &r, "pteflow_phase=lower\n", 1);
	feed(&sc, &r, "PTEFLOW_PHASE=unterminated", 1);
	cr_assert_eq(r.n_phases, 0);
	feed(&sc, &r, "\nPTEFLOW_PHASE=abcdefghijklmnopqrstuvwxyz01234\n", 2); /* 31 characters */
	cr_assert_eq(r.n_phases, 2);
	cr_assert_str_eq(r.phases[0].name, "unterminated");
	cr_assert_str_eq(r.phases[1].name, "abcdefghijklmnopqrstuvwxyz01234");
}

Test(proc_phase, a_progress_bar_redraw_ends_a_line)
{
	pf_proc_phase_scan sc;
	pf_proc_result r;
	memset(&r, 0, sizeof(r));
	pf_proc_phase_scan_init(&sc);
	feed(&sc, &r, " 40%|####  |\r 80%|########|\rPTEFLOW_PHASE=lower\n", 7);
	cr_assert_eq(r.n_phases, 1);
	cr_assert_str_eq(r.phases[0].name, "lower");
}

Test(proc_phase, too_many_markers_are_counted_not_kept)
{
	pf_proc_phase_scan sc;
	pf_proc_result r;
	memset(&r, 0, sizeof(r));
	pf_proc_phase_scan_init(&sc);
	for (int i = 0; i < PF_PROC_MAX_PHASES + 5; i++)
		feed(&sc, &r, "PTEFLOW_PHASE=p\n", (uint32_t)i);
	cr_assert_eq(r.n_phases, PF_PROC_MAX_PHASES);
	cr_assert_eq(r.n_phases_dropped, 5);
}
