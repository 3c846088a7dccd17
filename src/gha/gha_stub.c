#include "gha/gha.h"
void pf_gha_init(void) {}
