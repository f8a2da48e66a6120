/* Shared by the files of src/evo. */
#ifndef EVONET_EVO_INTERNAL_H
#define EVONET_EVO_INTERNAL_H
#include "evonet/evolve.h"
#include "evonet/report.h"

/* One line per finished network on stderr. */
ev_status ev_evolve_log_record(const ev_evolve_options *o, const ev_gen_record *r);
/* The table (stdout), report.json/csv/md, the Figure-4 grid and the generations plot. */
ev_status ev_evolve_report(ev_gpu *g, const ev_evolve_options *o, const ev_gen_record *rec, int n,
                           const ev_dataset *test, double seconds);
#endif
