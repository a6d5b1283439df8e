/* bench_e2e.c -- end-to-end inference throughput of gliner_forward (host/model/model.c) at GLiNER-small and
   -base dimensions with RANDOM weights: DeBERTa-v3 backbone (H 768, 12 heads, I 3072, vocab 128100,
   position_buckets 256, c2p+p2c), 6 (small) or 12 (base) layers, D = 768, BiLSTM, markerV0, max_width 12.
   The model directory (gliner_config.json + model.safetensors, bf16 weights) is written on the fly with our
   safetensors writer from the parameter table (host/model/params.c) -- no download -- into --dir
   (default /tmp/gliner_e2e/<model>), where bench/bench_gpu_reference.py loads the same weights.
   The batch (identical construction in bench_gpu_reference.py, see make_batch): per text
     [CLS] (<<ENT>> l l) x C <<SEP>> words [SEP],  word w = 1 sub-token, 2 when w % 4 == 3 (1.25 per word),
     T = 3 + 3C + W + W/4; every text of the batch W words long (no padding); span_idx (i, i+k), span_mask i+k < W.
   What is timed: one gliner_forward call = index uploads, the whole forward, the logits (B, W, K, C)
   downloaded to the host (with GLINER_PREFILTER=1 only those above decode_logit_floor(0.5): select_above); tokenization and decoding are not included (the reference bench times
   model.model(...) and the logits' copy to the host the same way). Median (p50) and p99 of the per-batch
   latency over the repeats after one warm-up; texts/s = B / p50.
   FLOPs per batch (multiply-add = 2; elementwise ignored; M = B*T, S = W*K, h = D/2, A = 256):
     encoder   L * (2*M*H*4H + 4*M*H*I + 8*B*T*T*H + 8*A*H*H)     QKV+O, FFN, attention (content, c2p, p2c, P.v), PK/PQ
     lstm      2 * (2*B*W*D*4h + 2*B*W*h*4h)
     span      2*B*W*(D*4D + 4D*D)*2 + 2*B*S*(2D*4D + 4D*D)      project_start/_end, out_project
     prompts   2*B*C*(D*4D + 4D*D);   scores 2*B*S*C*D
   These are the reference algorithm's FLOPs; the markerV0 split form (host/model/marker_fast.c) executes
   fewer, so TFLOP/s and MFU are effective rates (reference FLOPs over our time).
   MFU = FLOPs / p50 / peak; peak (--peak-tflops to change): H200 SXM dense bf16/fp16 989 TFLOP/s, fp32 67
   (no TF32: the fp32 backend computes plain fp32). Peak device memory: cudaMemGetInfo's used bytes after the
   forwards minus before the model was loaded (weights + activation arena high-water + cuBLAS workspaces).
   Usage: bench_e2e [--device cuda|cpu] [--dtypes fp32,bf16[,tf32,fp16]] [--models small,base]
                    [--points W:C:B[@model],...] [--reps N] [--budget SECONDS] [--dir DIR] [--csv PATH] [--quick]
   Output: one row per (model, dtype, point): model | dtype | W | C | B | T | texts/s | p50 ms | p99 ms |
   peak MiB | GFLOP/batch | TFLOP/s | MFU, appended to bench/results/<gpu>-e2e.csv. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "device.h"
#include "io/safetensors.h"
#include "decode.h"
#include "model/model.h"

#ifndef GLINER_SOURCE_DIR
#define GLINER_SOURCE_DIR "."
#endif

enum { VOCAB = 128100, CLS = 1, SEP = 2, ENT = 128001, ENTSEP = 128002, K = 12 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static uint64_t rng_next(uint64_t* s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* gliner_config.json of a GLiNER-small (layers 6) or -base (12) uni-encoder span model */
static int write_config(const char* dir, int layers) {
    char p[1024];
    snprintf(p, sizeof p, "%s/gliner_config.json", dir);
    FILE* f = fopen(p, "w");
    if (!f) return -1;
    fprintf(f,
            "{\"model_name\": \"microsoft/deberta-v3-%s\", \"name\": \"gliner\", \"max_width\": %d, \"hidden_size\": 768,\n"
            " \"dropout\": 0.0, \"fine_tune\": true, \"subtoken_pooling\": \"first\", \"span_mode\": \"markerV0\",\n"
            " \"post_fusion_schema\": \"\", \"num_post_fusion_layers\": 1, \"vocab_size\": %d, \"max_neg_type_ratio\": 1,\n"
            " \"max_types\": 100, \"max_len\": 512, \"words_splitter_type\": \"whitespace\",\n"
            " \"num_rnn_layers\": 1, \"fuse_layers\": false, \"embed_ent_token\": true, \"class_token_index\": %d,\n"
            " \"encoder_config\": {\"model_type\": \"deberta-v2\", \"hidden_size\": 768, \"num_hidden_layers\": %d,\n"
            "   \"num_attention_heads\": 12, \"intermediate_size\": 3072, \"hidden_act\": \"gelu\", \"hidden_dropout_prob\": 0.0,\n"
            "   \"attention_probs_dropout_prob\": 0.0, \"max_position_embeddings\": 512, \"type_vocab_size\": 0,\n"
            "   \"initializer_range\": 0.02, \"layer_norm_eps\": 1e-07, \"relative_attention\": true,\n"
            "   \"max_relative_positions\": -1, \"position_buckets\": 256, \"norm_rel_ebd\": \"layer_norm\",\n"
            "   \"share_att_key\": true, \"pos_att_type\": [\"p2c\", \"c2p\"], \"position_biased_input\": false,\n"
            "   \"pad_token_id\": 0, \"vocab_size\": %d},\n"
            " \"ent_token\": \"<<ENT>>\", \"sep_token\": \"<<SEP>>\"}\n",
            layers == 6 ? "small" : "base", K, VOCAB, ENT, layers, VOCAB);
    return fclose(f);
}

/* model.safetensors: every required tensor of the table, bf16, N(0, 0.02)-ish uniform; LayerNorm weights 1,
   biases 0 (so activations keep the scale of a trained model) */
static int write_weights(const char* dir, char* err, size_t errlen) {
    char p[1024];
    snprintf(p, sizeof p, "%s/gliner_config.json", dir);
    GlinerConfig cfg;
    if (gliner_config_load(&cfg, p, err, errlen)) return -1;
    ParamTable t;
    if (params_build(&t, &cfg, err, errlen)) { gliner_config_free(&cfg); return -1; }
    StTensorIn* ts = calloc((size_t)t.n, sizeof *ts);
    uint16_t* buf = malloc(t.total * sizeof(uint16_t) + 2);
    CHECK(ts && buf, "out of memory");
    int n = 0;
    uint64_t s = 12345;
    for (int i = 0; i < t.n; i++) {
        const ParamSpec* ps = &t.p[i];
        if (ps->optional) continue;
        uint16_t* d = buf + ps->offset;
        const size_t len = strlen(ps->name);
        const int is_bias = len > 5 && !strcmp(ps->name + len - 5, ".bias");
        const int is_ln = strstr(ps->name, "LayerNorm.weight") || strstr(ps->name, "norm.weight");
        for (size_t j = 0; j < ps->numel; j++) {
            float v = is_ln ? 1.0f : is_bias ? 0.0f : 0.0346f * (2.0f * (float)((rng_next(&s) >> 40) * (1.0 / 16777216.0)) - 1.0f);
            d[j] = f32_to_bf16(v);
        }
        ts[n].name = ps->name;
        ts[n].dtype = DTYPE_BF16;
        ts[n].ndim = ps->ndim;
        ts[n].shape = ps->shape;
        ts[n].data = d;
        n++;
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    const int rc = st_write(p, ts, n, NULL, err, errlen);
    free(ts);
    free(buf);
    params_free(&t);
    gliner_config_free(&cfg);
    return rc;
}

static int ensure_model(const char* dir, int layers) {
    char p[1200], err[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(p, &sb) == 0) return 0; /* written by an earlier run */
    snprintf(p, sizeof p, "mkdir -p '%s'", dir);
    if (system(p) != 0) return -1;
    const double t0 = now_s();
    if (write_config(dir, layers) || write_weights(dir, err, sizeof err)) {
        fprintf(stderr, "bench_e2e: writing the random model in %s: %s\n", dir, err);
        return -1;
    }
    fprintf(stderr, "bench_e2e: wrote a random %d-layer model to %s in %.1f s\n", layers, dir, now_s() - t0);
    return 0;
}

/* the batch (bench_gpu_reference.py make_batch builds the same) */
typedef struct {
    ModelInputs in;
    int64_t *ids, *am, *wm, *tl, *si, *sm;
} Batch;
static int seq_len(int W, int C) { return 3 + 3 * C + W + W / 4; }
static void make_batch(Batch* bt, int B, int W, int C) {
    const int T = seq_len(W, C);
    const size_t BT = (size_t)B * T, S = (size_t)W * K;
    bt->ids = calloc(BT, 8); bt->am = calloc(BT, 8); bt->wm = calloc(BT, 8);
    bt->tl = calloc((size_t)B, 8); bt->si = calloc((size_t)B * S * 2, 8); bt->sm = calloc((size_t)B * S, 8);
    CHECK(bt->ids && bt->am && bt->wm && bt->tl && bt->si && bt->sm, "out of memory");
    for (int b = 0; b < B; b++) {
        int64_t* id = bt->ids + (size_t)b * T;
        int64_t* wm = bt->wm + (size_t)b * T;
        int t = 0;
        id[t++] = CLS;
        for (int c = 0; c < C; c++) {
            id[t++] = ENT;
            for (int j = 0; j < 2; j++) id[t++] = 1000 + (c * 7 + j + b * 17) % 50000;
        }
        id[t++] = ENTSEP;
        for (int w = 0; w < W; w++)
            for (int j = 0; j < 1 + (w % 4 == 3); j++) {
                if (j == 0) wm[t] = w + 1;
                id[t++] = 2000 + (w * 13 + j + b * 31) % 100000;
            }
        id[t++] = SEP;
        CHECK(t == T, "batch layout: %d tokens, expected %d", t, T);
        for (int u = 0; u < T; u++) bt->am[(size_t)b * T + u] = 1;
        bt->tl[b] = W;
        for (int i = 0; i < W; i++)
            for (int k = 0; k < K; k++) {
                const size_t s = (size_t)b * S + (size_t)i * K + k;
                bt->si[2 * s] = i;
                bt->si[2 * s + 1] = i + k;
                bt->sm[s] = i + k < W;
            }
    }
    ModelInputs in = {0};
    in.B = B; in.T = T; in.W = W; in.K = K;
    in.input_ids = bt->ids; in.attention_mask = bt->am; in.words_mask = bt->wm; in.text_lengths = bt->tl;
    in.span_idx = bt->si; in.span_mask = bt->sm;
    bt->in = in;
}
static void free_batch(Batch* bt) { free(bt->ids); free(bt->am); free(bt->wm); free(bt->tl); free(bt->si); free(bt->sm); }

static double flops_batch(int L, int B, int W, int C) {
    const double H = 768, I = 3072, D = 768, h = D / 2, A = 256, T = seq_len(W, C), M = (double)B * T, S = (double)W * K;
    const double enc = L * (2 * M * H * 4 * H + 4 * M * H * I + 8.0 * B * T * T * H + 8 * A * H * H);
    const double lstm = 2 * (2.0 * B * W * D * 4 * h + 2.0 * B * W * h * 4 * h);
    const double span = 2.0 * B * W * (D * 4 * D + 4 * D * D) * 2 + 2.0 * B * S * (2 * D * 4 * D + 4 * D * D);
    const double prompts = 2.0 * B * C * (D * 4 * D + 4 * D * D), scores = 2.0 * B * S * C * D;
    return enc + lstm + span + prompts + scores;
}

static int cmp_d(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
    const char *device = "cuda", *dtypes = "fp32,bf16", *models = "small,base", *dir = "/tmp/gliner_e2e", *csv = NULL;
    const char* points = "64:5:1,64:25:32,256:25:32,256:25:128,384:100:32,64:5:1@base,256:25:128@base";
    int reps = 20, quick = 0;
    double budget = 240, peak_override = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const int more = i + 1 < argc;
        if (!strcmp(a, "--device") && more) device = argv[++i];
        else if (!strcmp(a, "--dtypes") && more) dtypes = argv[++i];
        else if (!strcmp(a, "--models") && more) models = argv[++i];
        else if (!strcmp(a, "--points") && more) points = argv[++i];
        else if (!strcmp(a, "--reps") && more) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--budget") && more) budget = atof(argv[++i]);
        else if (!strcmp(a, "--dir") && more) dir = argv[++i];
        else if (!strcmp(a, "--csv") && more) csv = argv[++i];
        else if (!strcmp(a, "--peak-tflops") && more) peak_override = atof(argv[++i]);
        else if (!strcmp(a, "--quick")) quick = 1;
        else { fprintf(stderr, "bench_e2e: unknown argument '%s' (see the header of bench/bench_e2e.c)\n", a); return 2; }
    }
    if (quick) { points = "64:5:1,256:25:8"; reps = reps > 5 ? 5 : reps; models = "small"; }
    const int cuda = strncmp(device, "cuda", 4) == 0;
    char gpu[256] = "cpu";
    if (cuda) {
        if (gl_device_count() == 0) {
            printf("bench_e2e: no device (no CUDA device or driver on this machine, or a build without CUDA): skipped\n");
            return 0;
        }
        gl_device_name(0, gpu, sizeof gpu);
        char* paren = strstr(gpu, " (");
        if (paren) *paren = 0;
    }
    char gpu_file[256];
    snprintf(gpu_file, sizeof gpu_file, "%s", gpu);
    for (char* c = gpu_file; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-')) *c = '_';
    char csv_buf[1024];
    if (!csv) {
        snprintf(csv_buf, sizeof csv_buf, "%s/bench/results/%s-e2e.csv", GLINER_SOURCE_DIR, gpu_file);
        csv = csv_buf;
    }
    /* the points: "W:C:B" (small) or "W:C:B@base" */
    int np = 0, pts[64][4];
    for (const char* s = points; *s && np < 64;) {
        int W, C, B, n = 0;
        if (sscanf(s, "%d:%d:%d%n", &W, &C, &B, &n) != 3) { fprintf(stderr, "bench_e2e: bad --points at '%s'\n", s); return 2; }
        s += n;
        int base = 0;
        if (!strncmp(s, "@base", 5)) { base = 1; s += 5; }
        else if (!strncmp(s, "@small", 6)) s += 6;
        pts[np][0] = W; pts[np][1] = C; pts[np][2] = B; pts[np][3] = base;
        np++;
        if (*s == ',') s++;
    }
    printf("# bench_e2e on %s, %d reps, budget %.0f s; csv %s\n", gpu, reps, budget, csv);
    printf("| model | dtype | W | C | B | T | texts/s | p50 ms | p99 ms | peak MiB | GFLOP/batch | TFLOP/s | MFU |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    fflush(stdout);
    const double t_start = now_s();
    int rc = 0;
    for (int mi = 0; mi < 2; mi++) {
        const char* mname = mi ? "base" : "small";
        if (!strstr(models, mname)) continue;
        int any = 0;
        for (int p = 0; p < np; p++) any |= pts[p][3] == mi;
        if (!any) continue;
        char mdir[1100];
        snprintf(mdir, sizeof mdir, "%s/%s", dir, mname);
        if (ensure_model(mdir, mi ? 12 : 6)) return 1;
        for (const char* ds = dtypes; *ds;) {
            char dt[16] = {0};
            size_t dl = strcspn(ds, ",");
            snprintf(dt, sizeof dt, "%.*s", (int)(dl < 15 ? dl : 15), ds);
            ds += dl + (ds[dl] == ',');
            if (!cuda && strcmp(dt, "fp32")) continue; /* the CPU backend is fp32 only */
            size_t free0 = 0, total = 0;
            if (cuda) gl_dev_mem_info(0, &free0, &total);
            const Backend* be = NULL;
            if (!cuda) be = backend_cpu(0);
#ifdef GLINER_HAVE_CUDA
            else if (!strcmp(dt, "tf32")) be = backend_cuda_tf32(0); /* fp32 storage, TF32 tensor-core GEMMs */
            else be = backend_cuda_dtype(0, !strcmp(dt, "bf16") ? DTYPE_BF16 : !strcmp(dt, "fp16") ? DTYPE_F16 : DTYPE_F32);
#endif
            if (!be) { printf("bench_e2e: no backend for %s %s\n", device, dt); rc = 1; continue; }
            const int prefilter = gl_env_is("GLINER_PREFILTER", "1"), span_grid = gl_env_is("GLINER_SPAN_GRID", "1");
            GlinerModel m;
            char err[1024];
            if (gliner_model_load(&m, mdir, be, err, sizeof err)) { fprintf(stderr, "bench_e2e: %s\n", err); return 1; }
            const double peak = peak_override > 0 ? peak_override : !strcmp(dt, "fp32") ? 66.9 : !strcmp(dt, "tf32") ? 494.7 : 989.4;
            for (int p = 0; p < np; p++) {
                if (pts[p][3] != mi) continue;
                const int W = pts[p][0], C = pts[p][1], B = pts[p][2];
                if (now_s() - t_start > budget) {
                    printf("| %s | %s | %d | %d | %d | - | skipped: over the %.0f s budget | | | | | | |\n", mname, dt, W, C, B, budget);
                    continue;
                }
                Batch bt;
                make_batch(&bt, B, W, C);
                bt.in.span_grid = span_grid; /* GLINER_SPAN_GRID=1: make_batch's spans are the collator's grid */
                if (prefilter) { /* GLINER_PREFILTER=1: only the logits that may pass 0.5 come back (select_above) */
                    bt.in.prefilter = 1;
                    bt.in.prefilter_t = decode_logit_floor(0.5f);
                }
                ModelOutputs out;
                double* lat = malloc((size_t)(reps > 0 ? reps : 1) * sizeof(double));
                int n = 0;
                const double t0 = now_s();
                if (gliner_forward(&m, &bt.in, &out, NULL, err, sizeof err)) { fprintf(stderr, "bench_e2e: %s\n", err); return 1; }
                free(out.logits); free(out.cand_pos); free(out.cand_val);
                const double warm = now_s() - t0;
                /* per-point share of the budget: at least 3 repeats */
                const double left = budget - (now_s() - t_start);
                int r_max = reps;
                if (warm > 0 && left / warm / 2 < r_max) r_max = (int)(left / warm / 2);
                if (r_max < 3) r_max = 3;
                for (int r = 0; r < r_max; r++) {
                    const double a = now_s();
                    if (gliner_forward(&m, &bt.in, &out, NULL, err, sizeof err)) { fprintf(stderr, "bench_e2e: %s\n", err); return 1; }
                    lat[n++] = now_s() - a; /* the logits are on the host: the forward is complete */
                    free(out.logits); free(out.cand_pos); free(out.cand_val);
                }
                qsort(lat, (size_t)n, sizeof *lat, cmp_d);
                const double p50 = lat[n / 2], p99 = lat[(int)ceil(0.99 * n) - 1 < 0 ? 0 : (int)ceil(0.99 * n) - 1];
                size_t free1 = 0;
                double mib = 0;
                if (cuda && gl_dev_mem_info(0, &free1, &total) == 0) mib = ((double)free0 - (double)free1) / 1048576.0;
                const double fl = flops_batch(mi ? 12 : 6, B, W, C), tfs = fl / p50 / 1e12;
                const int T = seq_len(W, C);
                char mfu[32];
                if (cuda) snprintf(mfu, sizeof mfu, "%.1f%%", 100.0 * tfs / peak);
                else snprintf(mfu, sizeof mfu, "n/a");
                printf("| %s | %s | %d | %d | %d | %d | %.1f | %.2f | %.2f | %.0f | %.1f | %.2f | %s |\n", mname, dt, W, C, B, T,
                       B / p50, p50 * 1e3, p99 * 1e3, mib, fl / 1e9, tfs, mfu);
                fflush(stdout);
                FILE* f = fopen(csv, "a");
                if (f) {
                    fseek(f, 0, SEEK_END);
                    if (ftell(f) == 0)
                        fprintf(f, "date,gpu,impl,model,dtype,W,C,B,T,reps,texts_per_s,p50_ms,p99_ms,peak_mib,gflop,tflops,mfu_pct\n");
                    char date[32];
                    time_t now = time(NULL);
                    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
                    fprintf(f, "%s,%s,gliner.c,%s,%s,%d,%d,%d,%d,%d,%.2f,%.3f,%.3f,%.0f,%.2f,%.3f,%.2f\n", date, gpu_file, mname,
                            dt, W, C, B, T, n, B / p50, p50 * 1e3, p99 * 1e3, mib, fl / 1e9, tfs, cuda ? 100.0 * tfs / peak : 0.0);
                    fclose(f);
                }
                free(lat);
                free_batch(&bt);
            }
            gliner_model_free(&m);
        }
    }
    return rc;
}
