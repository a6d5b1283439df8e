/* profile.h -- per-op wall time: a Backend that runs every op of another one, synchronising the device around
   each, and adds up the time and the calls per op (host/backend.h's table). `GLINER_PROFILE=1` makes gliner_load
   use it and gliner_free print the table to stderr; bench_e2e and the device script use it to see which kernels
   the time goes to. The syncs serialise host and device, so the total is not the unprofiled run time. */
#pragma once
#include <stdio.h>

#include "backend.h"

typedef struct ProfBackend ProfBackend;

/* One profiler per process at a time (the model's arena copies the table, so the wrappers keep theirs globally). */

ProfBackend*   profile_new(const Backend* base);
const Backend* profile_backend(ProfBackend* p);
/* a Markdown table, ops by time, descending */
void           profile_print(const ProfBackend* p, FILE* f);
void           profile_free(ProfBackend* p);
