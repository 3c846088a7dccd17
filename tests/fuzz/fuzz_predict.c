/*
 * libFuzzer target for the reader of the estimator's answer (src/run/predict.c,
 * pf_predict_parse): any bytes are parsed with a length, every number and
 * interval checked, the result freed. Seed corpus: tests/fuzz/corpus/predict/
 * (real answers of python -m pteflow_steps.estimate plus broken ones).
 * Replayed by ctest on every run (replay.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "run/predict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_prediction *p = NULL;
	if (pf_predict_parse(&p, (const char *)data, size, "/out") == 0 && p) {
		for (size_t i = 0; i < p->n_artifacts; i++)
			(void)p->artifacts[i].size.high;
	}
	pf_prediction_free(p);
	return 0;
}
