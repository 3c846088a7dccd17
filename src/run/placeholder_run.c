/* placeholder so the module library exists until its sources land */
typedef int pf_run_placeholder;
