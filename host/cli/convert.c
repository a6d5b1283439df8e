/* convert.c -- `gliner convert IN_DIR OUT_DIR [--dtype f32|f16|bf16]`: reads a checkpoint directory
   through our loaders, checks it, and writes it back with our writers (gliner_config.json and
   model.safetensors -- read from model.safetensors or, failing that, pytorch_model.bin, which is not
   copied; tokenizer and other files copied byte for byte), optionally casting the
   weights. The output appears whole or not at all: everything is written into a temporary sibling
   directory (host/io/model_dir.h's MdOut: .OUT_DIR.tmp.<pid>.<k>, created exclusively, orphans of killed runs
   removed) that is renamed to OUT_DIR at the end; OUT_DIR must not exist (a link, a file or a device there is
   an error, never replaced). scripts/check_roundtrip.py loads the result in
   the reference package to prove that what we write, the reference reads. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "io/gliner_config.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "resolve.h"
#include "model/params.h"
#include "ops.h"

static void report_stderr(void* ctx, const char* msg) {
    (void)ctx;
    fprintf(stderr, "gliner convert: %s\n", msg);
}

/* what convert copies as is: everything but the files it rewrites (pytorch_model.bin is superseded) */
static int keep_file(const char* name) {
    return strcmp(name, "model.safetensors") && strcmp(name, "gliner_config.json") && strcmp(name, "pytorch_model.bin") &&
           !strstr(name, ".tmp.");
}

static int parse_dtype(const char* s, DType* t) {
    if (!strcmp(s, "f32") || !strcmp(s, "fp32") || !strcmp(s, "float32")) *t = DTYPE_F32;
    else if (!strcmp(s, "f16") || !strcmp(s, "fp16") || !strcmp(s, "float16")) *t = DTYPE_F16;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) *t = DTYPE_BF16;
    else return -1;
    return 0;
}

static void usage(FILE* f) {
    fprintf(f, "usage: gliner convert IN_DIR OUT_DIR [--dtype f32|f16|bf16]\n"
               "  Rewrite a checkpoint directory with gliner.c's writers (OUT_DIR must not exist).\n"
               "  --dtype   cast every weight to this dtype (default: keep each tensor's dtype)\n");
}

int cli_convert(int argc, char** argv) {
    const char *in = NULL, *out = NULL;
    int have_dtype = 0;
    DType to = DTYPE_F32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--dtype")) {
            if (i + 1 >= argc) { fprintf(stderr, "gliner convert: --dtype needs a value (f32, f16 or bf16)\n"); return 2; }
            if (parse_dtype(argv[++i], &to)) {
                fprintf(stderr, "gliner convert: --dtype: expected f32, f16 or bf16, found '%s'\n", argv[i]);
                return 2;
            }
            have_dtype = 1;
        } else if (argv[i][0] == '-') { fprintf(stderr, "gliner convert: unknown option '%s'\n", argv[i]); usage(stderr); return 2; }
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else { fprintf(stderr, "gliner convert: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!in || !out) { usage(stderr); return 2; }

    char path[4096], err[1024];
    MdOut od; /* checks OUT_DIR before any work; everything goes into od.tmp */
    if (md_out_begin(&od, out, 0, err, sizeof err)) { fprintf(stderr, "gliner convert: %s\n", err); return 1; }
    /* the checkpoint as the reference's from_pretrained assembles it (resolve.h): a Hub id's snapshot, a legacy
       config completed from the backbone, the tokenizer with GLiNER's tokens */
    Resolved r;
    char rerr[2048];
    if (resolve_checkpoint(&r, in, rerr, sizeof rerr)) {
        fprintf(stderr, "gliner convert: %s\n", rerr);
        md_out_abort(&od);
        return 1;
    }
    in = r.dir;
    GlinerConfig* cfg = &r.cfg;
    snprintf(path, sizeof path, "%s/gliner_config.json", in);
    ParamTable table;
    if (params_build(&table, cfg, err, sizeof err)) {
        fprintf(stderr, "gliner convert: %s: %s\n", path, err);
        resolved_free(&r);
        md_out_abort(&od);
        return 1;
    }
    SafeTensors st; /* model.safetensors, else pytorch_model.bin: convert is how a .bin becomes a .safetensors */
    if (weights_open_dir(&st, in, path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "gliner convert: %s\n", err);
        params_free(&table);
        resolved_free(&r);
        md_out_abort(&od);
        return 1;
    }
    int rc = 1;
    const char* tmp = od.tmp;
    StTensorIn* ts = NULL;
    void** bufs = NULL;
    int nts = 0;
    if (params_check_file(&table, &st, path, report_stderr, NULL)) goto fail;

    /* weights: the tensors the table knows (buffers the reference never loads are dropped) */
    ts = calloc((size_t)st.n, sizeof *ts);
    bufs = calloc((size_t)st.n, sizeof *bufs);
    for (int i = 0; i < st.n; i++) {
        const TensorView* tv = &st.tensors[i];
        if (!params_find(&table, tv->name)) continue;
        StTensorIn* t = &ts[nts];
        *t = (StTensorIn){tv->name, tv->dtype, tv->ndim, tv->shape, tv->data};
        if (have_dtype && tv->dtype != to) {
            bufs[nts] = malloc(tv->numel * dtype_size(to) + 1);
            cast_forward_cpu(bufs[nts], to, tv->data, tv->dtype, tv->numel);
            t->dtype = to;
            t->data = bufs[nts];
        }
        nts++;
    }
    const char* meta[] = {"format", "pt", NULL};
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    if (st_write_ex(path, GL_OUT_NEW, ts, nts, meta, err, sizeof err)) { fprintf(stderr, "gliner convert: %s\n", err); goto fail; }
    snprintf(path, sizeof path, "%s/gliner_config.json", tmp);
    if (gliner_config_save_ex(cfg, path, GL_OUT_NEW, err, sizeof err)) { fprintf(stderr, "gliner convert: %s\n", err); goto fail; }

    /* every other regular file (tokenizer files, README...) byte for byte, and labels_tokenizer/ */
    if (md_copy_files(in, tmp, keep_file, err, sizeof err)) { fprintf(stderr, "gliner convert: %s\n", err); goto fail; }
    /* a checkpoint that borrowed its tokenizer (legacy: the backbone's), had only slow tokenizer files, or got
       GLiNER's tokens at load: the output carries the tokenizer it was run with, so it stands alone */
    if (resolved_write_tokenizers(&r, tmp, err, sizeof err)) { fprintf(stderr, "gliner convert: %s\n", err); goto fail; }
    if (md_out_commit(&od, err, sizeof err)) { fprintf(stderr, "gliner convert: %s\n", err); goto done; }
    printf("wrote %s (%s, %d tensors%s%s)\n", out, arch_name(cfg->arch), nts, have_dtype ? ", " : "", have_dtype ? dtype_name(to) : "");
    rc = 0;
    goto done;
fail:
    md_out_abort(&od);
done:
    for (int i = 0; i < nts; i++) free(bufs ? bufs[i] : NULL);
    free(bufs);
    free(ts);
    st_close(&st);
    params_free(&table);
    resolved_free(&r);
    return rc;
}
