/* params.h -- the parameter table a config implies: every tensor the reference's inner model
   registers (its state_dict keys, spec Appendix B), with shapes, built at start-up from the
   GlinerConfig. One table serves the checkpoint check (`gliner info`), loading into one
   contiguous buffer (offsets 256-byte aligned) and the optimizer's two parameter groups. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../io/gliner_config.h"
#include "../io/strmap.h"

#define PARAM_MAX_DIMS 4

typedef enum { PGROUP_ENCODER = 0, PGROUP_OTHERS = 1 } ParamGroup; /* encoder = name contains "token_rep_layer" */

typedef struct {
    char*      name;                  /* state_dict key, exactly as the reference saves it */
    int        ndim;
    int64_t    shape[PARAM_MAX_DIMS]; /* -1 = any size (e.g. precomputed_prompts' C) */
    size_t     numel;                 /* 0 when a dim is -1 */
    size_t     offset;                /* element offset in the flat buffer, 256-byte aligned for f32 */
    ParamGroup group;
    int        optional;              /* may be absent (tied lm_head, BERT pooler, precomputed prompts) */
} ParamSpec;

typedef struct {
    ParamSpec* p;
    int        n, cap;
    size_t     total;                 /* elements in the flat buffer, alignment padding included */
    size_t     num_parameters;        /* real elements of the required tensors */
    StrMap     index;                 /* name -> position in p (the forward looks tensors up by name per op) */
} ParamTable;

/* Builds the table for c. Fails (with a message) on configurations that have no implementation
   here yet, e.g. an encoder family we cannot build or an unsupported triples_layer. */
int  params_build(ParamTable* t, const GlinerConfig* c, char* err, size_t errlen);
void params_free(ParamTable* t);
const ParamSpec* params_find(const ParamTable* t, const char* name);

/* Low-level: append one tensor (used by the module builders and tests). */
void params_add(ParamTable* t, const char* name, int ndim, const int64_t* shape, int optional);

/* Checks a weights file against the table: a required tensor missing, a tensor of the wrong shape
   or a non-float dtype, and a tensor the table does not know (buffers the reference never loads,
   such as *.position_ids, are skipped) each produce one message "PATH: tensor 'NAME': ..." passed
   to report. Returns the number of errors. */
typedef void (*ParamsReportFn)(void* ctx, const char* msg);
int params_check_file(const ParamTable* t, const void* safetensors, const char* path, ParamsReportFn report, void* ctx);
