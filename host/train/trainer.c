/* trainer.c -- the training loop (trainer.h). */
#include "trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "../comm.h"
#include "../decode.h"
#include "../device.h"
#include "../gliner_internal.h"
#include "../io/strmap.h"
#include "../io/train_config.h"
#include "../log.h"
#include "../model/relex.h"
#include "checkpoint.h"
#include "data.h"
#include "ddp.h"
#include "eval.h"
#include "eval_relex.h"
#include "init_model.h"
#include "labels.h"
#include "labels_relex.h"
#include "loss.h"
#include "optim.h"
#include "step.h"
#ifdef GLINER_HAVE_CUDA
#include "../../kernels/cuda/train_kernels.h"
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    TrainOptions     o;
    TrainConfig      tc;
    gliner_t*        g;
    GlinerModel*     m;
    TrainData        data;
    EvalData         eval;
    EvalLabels       eval_labels;
    int              have_eval, eval_flat;
    RelexEvalData    rx_eval;    /* relex: an evaluation file in the training format (eval_relex.h) */
    int              eval_relex; /* 1: have_eval reads rx_eval (entity and relation P/R/F1) */
    Optimizer        opt;
    GradCtx          gc;
    TrainState       st;
    LossParams       lp;
    SchedType        sched;
    int64_t          total_steps, warmup, eval_every;
    int              batch;
    uint64_t*        rng; /* st.rng[0]: class sampling and loss masking */
    size_t*          order;
    int64_t          order_epoch;
    float*           params_host; /* the master weights on the host (= m->params on the CPU backend) */
    float*           grads_host;
    int              on_host;
    char             outdir[4096], model_src[4096];
    TrainStats*      stats; /* the step's scalars in backend memory (cpu_ops.h): read when logging or saving */
    /* data parallel (host/comm.h): this process is rank `rank` of `world`; rank 0 alone writes (logs, evaluation,
       checkpoints), every rank trains its slice of each global batch */
    Comm*            comm;
    int              rank, world;
    Comm*            gcomm; /* the gradients' communicator: comm on the CPU, NCCL over comm on GPUs */
    Ddp              ddp;   /* the bucketed gradient reduction (ddp.h) */
    /* training.zero_stage 1: this rank updates the elements [z_lo, z_hi) of the flat buffers and keeps only their
       AdamW state (zm, zv; opt.m / opt.v are freed); z_counts / z_displs: every rank's range, for the gathers */
    int              zero;
    size_t           z_lo, z_hi;
    float *          zm, *zv;
    int *            z_counts, *z_displs;
#ifdef GLINER_HAVE_CUDA
    /* a CUDA backend: AdamW state and the segment tables on the device; t->opt.m / .v are the host copies the
       checkpoints read and write */
    float *         dm, *dv;
    TrainPlan*      plan;
    TrainPlan*      zplan; /* ZeRO-1: AdamW over this rank's shard, offsets from z_lo (dm / dv hold the shard only) */
#endif
    FILE*            jlog; /* OUTDIR/train_log.jsonl */
    FILE*            tlog; /* OUTDIR/train.log: every progress and event line */
    int              log_errno;      /* the first failed write to a log (the run stops at the next check) */
    const char*      log_failed;     /* which: "train.log" or "train_log.jsonl" */
    int              lock_fd;        /* OUTDIR/.gliner-train.lock, flock'ed for the whole run; -1 before */
    /* uni-encoders: each label's prompt sub-tokens (<<ENT>> + its own), by label text, and what a prompt's
       labels may take under the sequence cap */
    StrMap           ltok;  /* keys: our own copies */
    int              prompt_budget;
} Trainer;

static void state_to_host(Trainer* t);
static void state_to_device(Trainer* t);

/* a line on stderr and in train.log */
static void say(Trainer* t, const char* fmt, ...) GL_PRINTF(2, 3);
static void say(Trainer* t, const char* fmt, ...) {
    if (t->rank) return; /* rank 0 speaks for the job */
    va_list ap;
    va_start(ap, fmt);
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", buf);
    if (t->tlog && (fprintf(t->tlog, "%s\n", buf) < 0 || fflush(t->tlog) != 0) && !t->log_errno) {
        t->log_errno = errno ? errno : EIO;
        t->log_failed = "train.log";
    }
}

/* a log write failed (a full disk): the run stops with one line naming the file, rather than go on unlogged */
static int logs_failed(const Trainer* t, char* err, size_t errlen) {
    if (!t->log_errno) return 0;
    return gl_set_err(err, errlen, "%s/%s: write failed: %s", t->outdir, t->log_failed, strerror(t->log_errno));
}

/* ---------------------------------------------------------------- data order */

/* the epoch's order: Fisher-Yates over the records with splitmix64 seeded by (data_seed, epoch) */
static void epoch_order(Trainer* t, int64_t epoch) {
    if (t->order && t->order_epoch == epoch) return;
    const size_t n = t->data.n;
    if (!t->order) t->order = malloc(n * sizeof *t->order);
    CHECK(t->order, "out of memory");
    for (size_t i = 0; i < n; i++) t->order[i] = i;
    t->order_epoch = epoch;
    if (t->o.no_shuffle) return;
    uint64_t s = t->st.data_seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(epoch + 1));
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(train_rng_next(&s) % i);
        size_t tmp = t->order[i - 1];
        t->order[i - 1] = t->order[j];
        t->order[j] = tmp;
    }
    t->order_epoch = epoch;
}

/* This rank's examples per epoch. One process: the epoch, its last batch partial. Several (the HF Trainer under
   torchrun, through accelerate's BatchSamplerShard): the epoch's order is cut into batches of the per-rank size and
   batch i goes to rank i mod world; the epoch is completed from its first examples to whole batches for every rank
   (even_batches), so each rank trains ceil(n / (world x batch)) full batches. */
static int64_t rank_epoch_len(const Trainer* t) {
    if (t->world == 1) return (int64_t)t->data.n;
    const int64_t g = (int64_t)t->world * t->batch;
    return ((int64_t)t->data.n + g - 1) / g * t->batch;
}

/* this rank's next batch (advances epoch/position; position counts this rank's examples of the epoch) */
static int next_batch(Trainer* t, const TrainExample** ex) {
    const int64_t per = rank_epoch_len(t);
    if (t->st.position >= per) {
        t->st.epoch_index++;
        t->st.position = 0;
    }
    epoch_order(t, t->st.epoch_index);
    const int64_t k = t->st.position / t->batch; /* this rank's batch of the epoch: the job's batch k x world + rank */
    int n = 0;
    while (n < t->batch && t->st.position < per) {
        const int64_t p = t->world == 1 ? t->st.position : (k * t->world + t->rank) * t->batch + n;
        ex[n++] = &t->data.ex[t->order[(size_t)(p % (int64_t)t->data.n)]];
        t->st.position++;
    }
    return n;
}

/* ---------------------------------------------------------------- prompts under the sequence cap */

/* a label's prompt sub-tokens (text/batch.h batch_prompt_label_tokens), memoised: the same labels come back in
   every record and every batch */
static int label_tokens(Trainer* t, const char* label, char* err, size_t errlen) {
    const size_t len = strlen(label);
    const int32_t known = sm_get(&t->ltok, label, len);
    if (known >= 0) return known;
    const int n = batch_prompt_label_tokens(t->g->tok, label, err, errlen);
    if (n < 0) return -1;
    char* key = strdup(label); /* the class maps' strings live for one batch */
    CHECK(key, "out of memory");
    sm_put(&t->ltok, key, len, n);
    return n;
}

static int prompt_tokens(Trainer* t, const char* const* labels, int n, int* per, char* err, size_t errlen) {
    int total = 0;
    for (int c = 0; c < n; c++) {
        const int k = label_tokens(t, labels[c], err, errlen);
        if (k < 0) return -1;
        if (per) per[c] = k;
        total += k;
    }
    return total;
}

static int cmp_int_desc(const void* a, const void* b) { return *(const int*)b - *(const int*)a; }

/* relex: what a record's relation prompt takes at most ([<<REL>> r]... <<SEP>>: its distinct relation types, or
   rel_labels as given), added to *need */
static int relation_prompt_tokens(Trainer* t, const TrainExample* ex, int64_t* need, char* err, size_t errlen) {
    const int predefined = ex->n_rel_labels >= 0;
    const int want = predefined ? ex->n_rel_labels : (ex->n_relations > 0 ? ex->n_relations : 0);
    StrSet s = {0};
    for (int i = 0; i < want; i++) strset_add(&s, predefined ? ex->rel_labels[i] : ex->relations[i].label);
    const int k = prompt_tokens(t, s.v, s.n, NULL, err, errlen);
    free(s.v);
    if (k < 0) return -1;
    *need += k + 1;
    return 0;
}

/* Up front, for uni-encoders (their labels are a prompt inside the text's sequence): every record's positive
   labels, and the evaluation's labels, must fit under the sequence cap with room for one text sub-token. The
   reference would cut such a prompt and die steps later on the class count ("labels have 20 classes, the
   logits 9"). A record's worst case is its max_types longest positives (the class map keeps at most max_types;
   negatives are dropped per batch, mb_build); a predefined ner_labels list is used whole. */
static int check_prompts(Trainer* t, char* err, size_t errlen) {
    const GlinerConfig* cfg = &t->m->cfg;
    if (arch_is_bi(cfg->arch) || cfg->precomputed_prompts_mode == 1) return 0;
    const int32_t *pre, *suf;
    int npre, nsuf;
    tokenizer_special_ids(t->g->tok, &pre, &npre, &suf, &nsuf);
    const int64_t cap = t->g->model_max_length;
    const int64_t budget = cap - npre - nsuf - 1 /* <<SEP>> */ - 1 /* a text sub-token */;
    t->prompt_budget = budget > INT32_MAX ? INT32_MAX : (int)budget;
    const char* src = t->o.train_data ? t->o.train_data : t->tc.train_data;
    const char** pos = NULL;
    int* tok = NULL;
    int cap_pos = 0, rc = 0;
    for (size_t r = 0; r < t->data.n && !rc; r++) {
        const TrainExample* ex = &t->data.ex[r];
        const int predefined = ex->n_ner_labels >= 0;
        const int want = predefined ? ex->n_ner_labels : ex->n_ner;
        if (want > cap_pos) {
            cap_pos = 2 * want;
            pos = realloc(pos, (size_t)cap_pos * sizeof *pos);
            tok = realloc(tok, (size_t)cap_pos * sizeof *tok);
            CHECK(pos && tok, "out of memory");
        }
        int n = 0; /* distinct positives (interned: equal labels share a pointer) */
        for (int i = 0; i < want; i++) {
            const char* l = predefined ? ex->ner_labels[i] : ex->ner[i].label;
            int dup = 0;
            for (int k = 0; k < n && !dup; k++) dup = pos[k] == l || !strcmp(pos[k], l);
            if (!dup) pos[n++] = l;
        }
        char e2[512];
        if (prompt_tokens(t, pos, n, tok, e2, sizeof e2) < 0) {
            rc = gl_set_err(err, errlen, "%s: record %zu: a label: %s", src, r, e2);
            break;
        }
        const int keep = predefined || n <= cfg->max_types ? n : cfg->max_types;
        qsort(tok, (size_t)n, sizeof *tok, cmp_int_desc);
        int64_t need = 0;
        for (int k = 0; k < keep; k++) need += tok[k];
        if (arch_is_relex(cfg->arch) && relation_prompt_tokens(t, ex, &need, e2, sizeof e2)) {
            rc = gl_set_err(err, errlen, "%s: record %zu: a relation label: %s", src, r, e2);
            break;
        }
        if (need > budget)
            rc = gl_set_err(err, errlen, "%s: record %zu: the prompt of its %s%d entity labels takes %lld sub-tokens (with "
                            "<<ENT>> each), more than the %lld that a sequence cap of %lld leaves after the special "
                            "tokens, <<SEP>> and one text sub-token; the reference would cut the prompt and fail later "
                            "on the class count. Shorten or drop those labels (or lower max_types)", src, r,
                            predefined ? "ner_labels: " : "", keep, (long long)need, (long long)budget, (long long)cap);
    }
    free(pos);
    free(tok);
    if (rc || !t->have_eval) return rc;
    char e2[512];
    const int nl = t->eval_relex ? t->rx_eval.n_ent_labels : t->eval_labels.n;
    int need = prompt_tokens(t, (const char* const*)(t->eval_relex ? t->rx_eval.ent_labels : t->eval_labels.names), nl,
                             NULL, e2, sizeof e2);
    if (need >= 0 && t->eval_relex) { /* and the relation prompt, with its <<SEP>> */
        const int nr = prompt_tokens(t, (const char* const*)t->rx_eval.rel_labels, t->rx_eval.n_rel_labels, NULL, e2,
                                     sizeof e2);
        need = nr < 0 ? nr : need + nr + 1;
    }
    if (need < 0) return gl_set_err(err, errlen, "evaluation labels: %s", e2);
    if (need > budget)
        return gl_set_err(err, errlen, "the evaluation's %d labels make a prompt of %d sub-tokens, more than the %lld that "
                          "a sequence cap of %lld leaves for labels: every evaluation text would fail", nl,
                          need, (long long)budget, (long long)cap);
    return 0;
}

/* ---------------------------------------------------------------- one micro-batch */

typedef struct {
    Batch    b;
    int64_t* span_mask64;
    int64_t *rs_idx, *rs_mask; /* represent_spans: the span head's spans */
    float*   rs_labels;
    int64_t *lab_ids, *lab_mask;
    float*   labels;
    ClassMap maps[1024];
    int      n;
    ModelInputs in;
    LossTargets tg;
    /* relex: the records as trained (augmented), their relation classes, the targets (labels_relex.h) */
    RelexExample* rx;
    ClassMap*     rel_maps;
    RelexTargets  rt;
} MicroBatch;

static void mb_free(MicroBatch* mb) {
    batch_free(&mb->b);
    free(mb->span_mask64);
    free(mb->lab_ids);
    free(mb->lab_mask);
    free(mb->labels);
    free(mb->rs_idx);
    free(mb->rs_mask);
    free(mb->rs_labels);
    for (int i = 0; i < mb->n; i++) classmap_free(&mb->maps[i]);
    if (mb->rx) {
        for (int i = 0; i < mb->n; i++) relex_example_free(&mb->rx[i]), classmap_free(&mb->rel_maps[i]);
        relex_targets_free(&mb->rt);
    }
    free(mb->rx);
    free(mb->rel_maps);
    memset(mb, 0, sizeof *mb);
}

static int mb_build(Trainer* t, MicroBatch* mb, const TrainExample* const* ex, int n, char* err, size_t errlen) {
    memset(mb, 0, sizeof *mb);
    const GlinerConfig* cfg = &t->m->cfg;
    CHECK(n <= 1024, "batch of %d", n);
    mb->n = n;
    TrainExample* exs = malloc((size_t)n * sizeof *exs);
    BatchItem* items = calloc((size_t)n, sizeof *items);
    CHECK(exs && items, "out of memory");
    const int relex = arch_is_relex(cfg->arch);
    if (relex) { /* augmentation (§7.8), then both class maps (§2.9) */
        mb->rx = calloc((size_t)n, sizeof *mb->rx);
        mb->rel_maps = calloc((size_t)n, sizeof *mb->rel_maps);
        CHECK(mb->rx && mb->rel_maps, "out of memory");
        const RelexAugment aug = {cfg->augment_data_prob, {cfg->augment_ent_drop_prob[0], cfg->augment_ent_drop_prob[1]},
                                  {cfg->augment_rel_drop_prob[0], cfg->augment_rel_drop_prob[1]},
                                  cfg->augment_add_other_prob};
        for (int i = 0; i < n; i++) {
            relex_example_init(&mb->rx[i], ex[i], &aug, t->rng);
            exs[i] = mb->rx[i].ex;
        }
        classmap_sample_relex(mb->maps, mb->rel_maps, mb->rx, ex, n, cfg->max_types, cfg->max_neg_type_ratio, t->rng);
    } else {
        for (int i = 0; i < n; i++) exs[i] = *ex[i];
        if (arch_is_bi(cfg->arch)) classmap_sample_bi(mb->maps, exs, n, cfg->max_types, t->rng);
        else classmap_sample_uni(mb->maps, exs, n, cfg->max_types, cfg->max_neg_type_ratio, t->rng);
    }
    int rc = -1;
    for (int i = 0; i < n && t->prompt_budget > 0; i++) { /* uni-encoders: the prompt under the cap (check_prompts) */
        int* tok = malloc((size_t)(mb->maps[i].n ? mb->maps[i].n : 1) * sizeof *tok);
        CHECK(tok, "out of memory");
        const size_t rec = (size_t)(ex[i] - t->data.ex);
        int budget = t->prompt_budget, dropped = 0;
        if (relex) { /* the relation prompts ([<<REL>> r]... <<SEP>>) are kept whole: the entities fit in the rest */
            const int nr = prompt_tokens(t, (const char* const*)mb->rel_maps[i].names, mb->rel_maps[i].n, NULL, err, errlen);
            budget = nr < 0 ? 0 : budget - nr - 1;
            dropped = nr < 0 ? -1 : 0;
        }
        if (dropped >= 0) dropped = prompt_tokens(t, (const char* const*)mb->maps[i].names, mb->maps[i].n, tok, err, errlen);
        if (dropped >= 0) dropped = classmap_fit_prompt(&mb->maps[i], &exs[i], tok, budget);
        free(tok);
        if (dropped < 0) {
            gl_set_err(err, errlen, "record %zu: its positive labels do not fit under the sequence cap", rec);
            goto out;
        }
        if (dropped)
            log_debug("record %zu: %d sampled negative labels dropped from the end of its prompt (sequence cap %lld)", rec,
                      dropped, (long long)t->g->model_max_length);
    }
    for (int i = 0; i < n; i++) {
        items[i].words = exs[i].words;
        items[i].n_words = exs[i].n_words;
        items[i].labels = (const char* const*)mb->maps[i].names;
        items[i].n_labels = mb->maps[i].n;
        items[i].index = (int)(ex[i] - t->data.ex); /* batch_build's errors name the record */
        if (relex) {
            items[i].relations = (const char* const*)mb->rel_maps[i].names;
            items[i].n_relations = mb->rel_maps[i].n;
        }
    }
    if (batch_build(&mb->b, t->g->tok, cfg, items, n, t->g->model_max_length, err, errlen)) goto out;
    mb->span_mask64 = gliner_batch_inputs(&mb->b, cfg, &mb->in);
    int C;
    if (arch_is_token(cfg->arch)) {
        int W;
        mb->labels = labels_token_build(exs, mb->maps, n, cfg->max_len, &W, &C);
        if (W != mb->b.W) { gl_set_err(err, errlen, "token labels for %d words, the batch has %d", W, mb->b.W); goto out; }
        if (cfg->represent_spans && !relex) { /* token relex trains on the gold spans instead (relex targets) */
            int N, C2;
            mb->rs_labels = labels_token_spans_build(exs, mb->maps, n, cfg->max_len, cfg->max_width, cfg->neg_spans_ratio,
                                                     t->rng, &mb->rs_idx, &mb->rs_mask, &N, &C2);
            mb->in.N = N;
            mb->in.spans_idx = mb->rs_idx;
            mb->in.spans_mask = mb->rs_mask;
        }
    } else {
        int S;
        mb->labels = labels_span_build(exs, mb->maps, n, cfg->max_width, cfg->max_len, &S, &C);
        if (S != mb->b.W * mb->b.K) {
            gl_set_err(err, errlen, "span labels for %d spans, the batch has %d", S, mb->b.W * mb->b.K);
            goto out;
        }
    }
    if (arch_is_bi(cfg->arch)) {
        int Tl;
        if (gliner_label_inputs(t->g, mb->maps[0].names, mb->maps[0].n, &mb->lab_ids, &mb->lab_mask, &Tl, err, errlen))
            goto out;
        mb->in.C_labels = mb->maps[0].n;
        mb->in.T_labels = Tl;
        mb->in.labels_input_ids = mb->lab_ids;
        mb->in.labels_attention_mask = mb->lab_mask;
    }
    mb->tg = (LossTargets){.labels = mb->labels, .C = C, .span_labels = mb->rs_labels, .span_mask = mb->rs_mask,
                           .N = mb->in.N};
    if (relex) { /* §7.7: the gold entities drive the forward; the adjacency and relation targets */
        const int token = arch_is_token(cfg->arch);
        RelexTargets* rt = &mb->rt;
        relex_targets_build(rt, mb->rx, mb->maps, mb->rel_maps, n, cfg->max_width, cfg->max_len, token,
                            relex_single_step(cfg), token ? NULL : mb->labels, mb->b.W * mb->b.K, C, t->rng);
        mb->in.relex_gold = 1;
        mb->in.relex_labels = mb->labels;
        mb->in.relex_labels_C = C;
        mb->in.adj_matrix = rt->adj;
        mb->in.n_adj = rt->N;
        if (token) {
            mb->in.N = rt->Ns;
            mb->in.spans_idx = rt->span_idx;
            mb->in.spans_mask = rt->span_mask;
        }
        mb->tg.adj_matrix = rt->adj;
        mb->tg.n_adj = rt->N;
        mb->tg.rel_matrix = rt->rel;
        mb->tg.rel_P = rt->P;
        mb->tg.rel_C = rt->R;
    }
    rc = 0;
out:
    free(items);
    free(exs);
    return rc;
}

/* ---------------------------------------------------------------- evaluation */

/* the model in inference mode for the duration of an evaluation */
static void model_infer_mode(Trainer* t, int on) {
    GlinerModel* m = t->m;
    if (on) {
        gliner_model_drop_caches(m); /* the weights changed since the last evaluation */
        tape_trim(t->gc.tape);       /* the training step's slab: the evaluation's arena takes its place */
        m->be = t->gc.be_saved;
        m->arena = t->gc.arena_saved;
        m->training = 0;
        m->drop_ctr = NULL;
    } else {
        m->be = tape_backend(t->gc.tape);
        m->arena = NULL;
        m->training = 1;
        m->drop_ctr = &t->gc.drop_ctr;
    }
}

static int evaluate(Trainer* t, EvalScores* out, char* err, size_t errlen) {
    const GlinerConfig* cfg = &t->m->cfg;
    const size_t n = t->o.eval_limit > 0 && (size_t)t->o.eval_limit < t->eval.n ? (size_t)t->o.eval_limit : t->eval.n;
    EvalCounts c = {0};
    model_infer_mode(t, 1);
    const int bs = t->batch;
    int rc = 0;
    const DecodeOpts d = {(float)(t->o.threshold > 0 ? t->o.threshold : 0.5), t->eval_flat, 0};
    EntityList el = {0};
    EvalSpan* pred = NULL;
    int pred_cap = 0;
    for (size_t s = 0; s < n && !rc; s += (size_t)bs) {
        const int k = (int)(n - s < (size_t)bs ? n - s : (size_t)bs);
        BatchItem* items = calloc((size_t)k, sizeof *items);
        for (int i = 0; i < k; i++) {
            const EvalExample* e = &t->eval.ex[s + i];
            items[i].words = e->words;
            items[i].n_words = e->n_words;
            items[i].labels = (const char* const*)t->eval_labels.names;
            items[i].n_labels = t->eval_labels.n;
            items[i].index = (int)(s + i); /* errors name the evaluation example */
        }
        Batch b;
        if (batch_build(&b, t->g->tok, cfg, items, k, t->g->model_max_length, err, errlen)) {
            free(items);
            rc = -1;
            break;
        }
        ModelInputs in;
        int64_t* sm = gliner_batch_inputs(&b, cfg, &in);
        int64_t *lids = NULL, *lmask = NULL;
        if (arch_is_bi(cfg->arch)) {
            int Tl;
            if (gliner_label_inputs(t->g, b.labels[0], b.n_labels[0], &lids, &lmask, &Tl, err, errlen)) rc = -1;
            in.C_labels = b.n_labels[0];
            in.T_labels = Tl;
            in.labels_input_ids = lids;
            in.labels_attention_mask = lmask;
        }
        ModelOutputs mo;
        if (!rc && gliner_forward(t->m, &in, &mo, NULL, err, errlen)) rc = -1;
        for (int i = 0; i < k && !rc; i++) {
            const int nw = b.words[i].n, C = mo.C;
            if (arch_is_token(cfg->arch))
                decode_token_logits(&el, mo.logits + (size_t)i * b.W * C * 3, b.W, C, nw, b.n_labels[i], d);
            else
                decode_span_logits(&el, mo.logits + (size_t)i * b.W * b.K * C, b.W, b.K, C, nw, b.n_labels[i], d);
            if (el.n > pred_cap) {
                pred_cap = el.n * 2;
                pred = realloc(pred, (size_t)pred_cap * sizeof *pred);
                CHECK(pred, "out of memory");
            }
            for (int q = 0; q < el.n; q++) pred[q] = (EvalSpan){el.e[q].start, el.e[q].end, b.labels[i][el.e[q].label]};
            const EvalExample* e = &t->eval.ex[s + i];
            eval_counts_add(&c, e->ents, e->n_ents, pred, el.n);
        }
        if (!rc) free(mo.logits);
        free(sm);
        free(lids);
        free(lmask);
        batch_free(&b);
        free(items);
    }
    entity_list_free(&el);
    free(pred);
    model_infer_mode(t, 0);
    *out = eval_scores(&c);
    return rc;
}

/* relex: entities and relations of the evaluation records (eval_relex.h) */
static int evaluate_relex(Trainer* t, EvalScores* ent, EvalScores* rel, char* err, size_t errlen) {
    const size_t n = t->o.eval_limit > 0 ? (size_t)t->o.eval_limit : t->rx_eval.data.n;
    model_infer_mode(t, 1);
    const int rc = relex_evaluate((struct GlinerHandle*)t->g, &t->rx_eval, n, t->batch,
                                  (float)(t->o.threshold > 0 ? t->o.threshold : 0.5), 0, ent, rel, err, errlen);
    model_infer_mode(t, 0);
    return rc;
}

/* ---------------------------------------------------------------- logs and checkpoints */

static void jlog_entry(Trainer* t, const TrainLogEntry* e) {
    errno = 0;
    if (t->jlog && train_log_write_jsonl(t->jlog, e) && !t->log_errno) {
        t->log_errno = errno ? errno : EIO;
        t->log_failed = "train_log.jsonl";
    }
}

static int save(Trainer* t, char* err, size_t errlen) {
    if (t->o.no_save) return 0;
    state_to_host(t);
    CheckpointSave cs = {.outdir = t->outdir, .model_src = t->model_src,
                         .res = ((struct GlinerHandle*)t->g)->res, .cfg = &t->m->cfg, .table = &t->m->table,
                         .params = t->params_host, .opt = &t->opt, .state = &t->st,
                         .save_total_limit = t->tc.save_total_limit};
    char path[4096];
    if (checkpoint_save(&cs, path, sizeof path, err, errlen)) return -1;
    say(t, "step %lld: saved %s", (long long)t->st.global_step, path);
    return 0;
}

static void fmt_eta(char* buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) { snprintf(buf, n, "?"); return; }
    long x = (long)(s + 0.5);
    if (x >= 3600) snprintf(buf, n, "%ldh%02ldm", x / 3600, (x / 60) % 60);
    else if (x >= 60) snprintf(buf, n, "%ldm%02lds", x / 60, x % 60);
    else snprintf(buf, n, "%lds", x);
}

/* ---------------------------------------------------------------- the update */

/* The step runs without the host waiting on it: the loss terms add to stats->step_loss where the logits are, and
   the norm, the finite check (TrainStats: a non-finite loss or norm skips the step there), the clipping and AdamW
   read and write stats where it lives. The host reads it only to log or save (stats_take, state_to_host). */

#ifdef GLINER_HAVE_CUDA
/* the plan of the tensors' elements inside [lo, hi) of the flat buffers, their offsets counted from lo */
static TrainPlan* plan_for_range(Trainer* t, size_t lo, size_t hi) {
    const ParamTable* tb = &t->m->table;
    TrainSegment* segs = calloc((size_t)(tb->n ? tb->n : 1), sizeof *segs);
    CHECK(segs, "out of memory");
    int n = 0;
    for (int i = 0; i < tb->n; i++) { /* each tensor's group lr (the schedule multiplies it on the device) */
        const ParamSpec* ps = &tb->p[i];
        if (ps->optional || !ps->numel) continue;
        const size_t a = ps->offset > lo ? ps->offset : lo, e = ps->offset + ps->numel < hi ? ps->offset + ps->numel : hi;
        if (a < e)
            segs[n++] = (TrainSegment){a - lo, e - a, optim_param_lr(&t->opt, i), optim_param_wd(&t->opt, i),
                                       t->opt.frozen[i]};
    }
    TrainPlan* pl = train_plan_new_cuda(segs, n, (gl_stream_t)backend_cuda_stream(t->m->base));
    free(segs);
    return pl;
}

static void dev_opt_init(Trainer* t) {
    const Backend* be = t->m->base;
    const ParamTable* tb = &t->m->table;
    t->plan = plan_for_range(t, 0, tb->total);
    t->dm = be->alloc(be, tb->total * sizeof(float));
    t->dv = be->alloc(be, tb->total * sizeof(float));
}

static void dev_opt_free(Trainer* t) {
    const Backend* be = t->m ? t->m->base : NULL;
    if (!be || !t->plan) return;
    be->free(be, t->dm);
    be->free(be, t->dv);
    train_plan_free_cuda(t->plan);
    if (t->zplan) train_plan_free_cuda(t->zplan);
}
#endif

/* clip + AdamW, or nothing when the step's loss or gradient norm is not finite (TrainStats.ok); with several ranks
   the gradients and the loss are first averaged over them (ddp.h: each rank's gradients divided by the world size,
   then summed, bucket by bucket, most buckets started during the backward), so every rank takes the same step.
   0, or -1 with err (a collective failed). */
static int update(Trainer* t, double lr_mult, char* err, size_t errlen) {
    TrainStats* st = t->stats;
    const int64_t step = t->st.global_step + 1;
    char what[64];
    snprintf(what, sizeof what, "the loss all-reduce of step %lld", (long long)step);
#ifdef GLINER_HAVE_CUDA
    if (!t->on_host) {
        gl_stream_t s = (gl_stream_t)backend_cuda_stream(t->m->base);
        if (t->ddp.nb) { /* the buckets (most already under way), and the loss: its sum over the ranks, / world */
            CommReq rq = {0};
            if (ddp_finish(&t->ddp, step, err, errlen) ||
                comm_iallreduce(t->gcomm, &st->step_loss, 1, COMM_F64, 1.0f, &rq, err, errlen) ||
                comm_wait(t->gcomm, &rq, what, err, errlen))
                return -1;
            train_stats_loss_div_cuda(st, (double)t->world, s);
        }
        /* ZeRO-1 on GPUs: each rank's shard of the summed gradients to every rank (the norm and the clip read them
           all), AdamW over this rank's shard with its shard of the state, then the parameters gathered */
        if (t->zero && comm_allgatherv_f32(t->gcomm, t->gc.grads, t->z_counts, t->z_displs, "gathering the summed "
                                           "gradients (ZeRO-1)", err, errlen))
            return -1;
        grad_norm_plan_cuda(st, t->gc.grads, t->plan, s);
        train_step_check_cuda(st, s);
        grad_clip_plan_cuda(t->gc.grads, st, t->tc.max_grad_norm, t->plan, s);
        if (!t->zero) {
            adamw_plan_cuda(t->m->params, t->gc.grads, t->dm, t->dv, NULL, DTYPE_F32, t->plan, lr_mult, t->opt.hp.beta1,
                            t->opt.hp.beta2, t->opt.hp.eps, st, s);
            return 0;
        }
        if (t->z_hi > t->z_lo)
            adamw_plan_cuda((float*)t->m->params + t->z_lo, t->gc.grads + t->z_lo, t->dm, t->dv, NULL, DTYPE_F32,
                            t->zplan, lr_mult, t->opt.hp.beta1, t->opt.hp.beta2, t->opt.hp.eps, st, s);
        return comm_allgatherv_f32(t->gcomm, t->m->params, t->z_counts, t->z_displs, "gathering the updated parameters "
                                   "(ZeRO-1)", err, errlen);
    }
#endif
    /* the CPU: the same rule with the twins, on host memory */
    if (t->ddp.nb) {
        if (ddp_finish(&t->ddp, step, err, errlen) || comm_allreduce_f64(t->comm, &st->step_loss, 1, what, err, errlen))
            return -1;
        st->step_loss /= t->world; /* the loss the reference logs: the mean over the ranks */
    }
    if (t->zero) { /* ZeRO-1: each rank holds the summed gradients of its shard only: the norm's sums over the ranks */
        const ParamTable* tb = &t->m->table;
        double* sq = malloc((size_t)(tb->n ? tb->n : 1) * sizeof *sq);
        CHECK(sq, "out of memory");
        grad_sq_sums(t->grads_host, tb, t->opt.frozen, t->z_lo, t->z_hi, sq);
        snprintf(what, sizeof what, "the gradient norm of step %lld (ZeRO-1)", (long long)step);
        const int rc = comm_allreduce_f64(t->comm, sq, (size_t)tb->n, what, err, errlen);
        st->norm = grad_norm_from_sq(tb, t->opt.frozen, sq);
        free(sq);
        if (rc) return -1;
    } else {
        st->norm = clip_grad_norm(t->grads_host, &t->m->table, t->opt.frozen, 0.0); /* the norm only */
    }
    train_step_check_cpu(st);
    if (!st->ok) return 0;
    clip_grads(t->grads_host, &t->m->table, t->opt.frozen, t->tc.max_grad_norm, st->norm);
    if (!t->zero) {
        optim_step(&t->opt, t->params_host, t->grads_host, lr_mult);
        return 0;
    }
    /* ZeRO-1: this rank's part of the update, then every rank's part of the parameters to every rank */
    optim_step_range(&t->opt, t->params_host, t->grads_host, t->zm, t->zv, t->z_lo, t->z_hi, lr_mult);
    return comm_allgatherv_f32(t->comm, t->params_host, t->z_counts, t->z_displs, "gathering the updated parameters "
                               "(ZeRO-1)", err, errlen);
}

/* training.zero_stage 1 with several ranks: the ranges, this rank's AdamW state (from opt.m / opt.v, which a resume
   filled; on a GPU, the device's state shrinks to it) and the full state freed */
static int zero_init(Trainer* t, char* err, size_t errlen) {
    const size_t total = t->m->table.total, per = (total + (size_t)t->world - 1) / (size_t)t->world;
    if (total > (size_t)INT32_MAX)
        return gl_set_err(err, errlen, "training.zero_stage 1: %zu parameters (at most 2^31 - 1 with MPI's counts)", total);
    t->z_counts = calloc((size_t)t->world, sizeof(int));
    t->z_displs = calloc((size_t)t->world, sizeof(int));
    CHECK(t->z_counts && t->z_displs, "out of memory");
    for (int r = 0; r < t->world; r++) {
        const size_t lo = (size_t)r * per < total ? (size_t)r * per : total, hi = lo + per < total ? lo + per : total;
        t->z_displs[r] = (int)lo;
        t->z_counts[r] = (int)(hi - lo);
    }
    t->z_lo = (size_t)t->z_displs[t->rank];
    t->z_hi = t->z_lo + (size_t)t->z_counts[t->rank];
    const size_t n = t->z_hi - t->z_lo;
    t->zm = malloc((n ? n : 1) * sizeof(float));
    t->zv = malloc((n ? n : 1) * sizeof(float));
    CHECK(t->zm && t->zv, "out of memory");
    memcpy(t->zm, t->opt.m + t->z_lo, n * sizeof(float));
    memcpy(t->zv, t->opt.v + t->z_lo, n * sizeof(float));
    free(t->opt.m);
    free(t->opt.v);
    t->opt.m = t->opt.v = NULL;
#ifdef GLINER_HAVE_CUDA
    if (!t->on_host) { /* the device's AdamW state shrinks to the shard (zm / zv: its host copies, for checkpoints) */
        const Backend* be = t->m->base;
        be->free(be, t->dm);
        be->free(be, t->dv);
        t->dm = be->alloc(be, (n ? n : 1) * sizeof(float));
        t->dv = be->alloc(be, (n ? n : 1) * sizeof(float));
        if (n) {
            be->upload(be, t->dm, t->zm, n);
            be->upload(be, t->dv, t->zv, n);
        }
        t->zplan = plan_for_range(t, t->z_lo, t->z_hi);
    }
#endif
    t->zero = 1;
    say(t, "ZeRO-1: each of the %d ranks keeps AdamW's state for its 1/%d of the parameters: %.1f MiB instead of %.1f MiB",
        t->world, t->world, 2.0 * (double)n * sizeof(float) / 1048576.0, 2.0 * (double)total * sizeof(float) / 1048576.0);
    return 0;
}

/* ZeRO-1, before a checkpoint: rank 0 holds the whole AdamW state (opt.m / opt.v) while it writes; zero_save_done
   frees it again */
static int zero_gather_state(Trainer* t, char* err, size_t errlen) {
#ifdef GLINER_HAVE_CUDA
    if (!t->on_host && t->z_hi > t->z_lo) { /* the shard's state from the device first */
        const Backend* be = t->m->base;
        be->download(be, t->zm, t->dm, t->z_hi - t->z_lo);
        be->download(be, t->zv, t->dv, t->z_hi - t->z_lo);
    }
#endif
    if (t->rank == 0) {
        t->opt.m = malloc(t->m->table.total * sizeof(float));
        t->opt.v = malloc(t->m->table.total * sizeof(float));
        CHECK(t->opt.m && t->opt.v, "out of memory");
    }
    if (comm_gatherv_f32(t->comm, t->zm, t->opt.m, t->z_counts, t->z_displs, "gathering AdamW's state (ZeRO-1)", err,
                         errlen) ||
        comm_gatherv_f32(t->comm, t->zv, t->opt.v, t->z_counts, t->z_displs, "gathering AdamW's state (ZeRO-1)", err,
                         errlen))
        return -1;
    return 0;
}

static void zero_save_done(Trainer* t) {
    free(t->opt.m);
    free(t->opt.v);
    t->opt.m = t->opt.v = NULL;
}

/* the step's scalars where they live, read (after the device's queued work) or written */
static TrainStats stats_get(Trainer* t) {
    if (t->on_host) return *t->stats;
    TrainStats h;
    t->m->base->sync(t->m->base);
    gl_dev_download(&h, t->stats, sizeof h);
    return h;
}
static void stats_put(Trainer* t, const TrainStats* h) {
    if (t->on_host) *t->stats = *h;
    else gl_dev_upload(t->stats, h, sizeof *h);
}

/* the step's scalars on the host, and the window counters zeroed where they live */
static TrainStats stats_take(Trainer* t) {
    const TrainStats h = stats_get(t);
    TrainStats z = h;
    z.win_loss = 0;
    z.win_steps = z.win_skipped = 0;
    stats_put(t, &z);
    t->opt.step = h.opt_step;
    return h;
}

static void stats_init(Trainer* t) {
    const Backend* be = t->m->base;
    t->stats = be->alloc(be, sizeof(TrainStats)); /* zero-filled */
    const TrainStats z = {.opt_step = t->opt.step};
    stats_put(t, &z);
}

/* the device state into the host copies a checkpoint reads (params_host, opt.m, opt.v), and back */
static void state_to_host(Trainer* t) {
    if (t->on_host) return;
    const Backend* be = t->m->base;
    t->opt.step = stats_get(t).opt_step;
    be->download(be, t->params_host, t->m->params, t->m->table.total);
#ifdef GLINER_HAVE_CUDA
    if (!t->zero) { /* ZeRO-1: zero_gather_state brought the state to rank 0 already */
        be->download(be, t->opt.m, t->dm, t->m->table.total);
        be->download(be, t->opt.v, t->dv, t->m->table.total);
    }
#endif
}

static void state_to_device(Trainer* t) {
    if (t->on_host) return;
    const Backend* be = t->m->base;
    be->upload(be, t->m->params, t->params_host, t->m->table.total);
#ifdef GLINER_HAVE_CUDA
    be->upload(be, t->dm, t->opt.m, t->m->table.total);
    be->upload(be, t->dv, t->opt.v, t->m->table.total);
#endif
}

/* ---------------------------------------------------------------- set-up */

#define LOCK_NAME ".gliner-train.lock"

/* One run per output directory: an exclusive flock on OUTDIR/.gliner-train.lock, which holds the holder's pid (for
   the message a second run prints). The kernel releases the lock when the process ends, however it ends (kill -9
   included), so a stale lock file is harmless: the next run locks it and writes its own pid. */
static int lock_outdir(Trainer* t, char* err, size_t errlen) {
    char p[4200];
    snprintf(p, sizeof p, "%s/" LOCK_NAME, t->outdir);
    int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0666);
    if (fd < 0) return gl_set_err(err, errlen, "%s: cannot open the training lock file: %s", p, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return gl_set_err(err, errlen, "%s: not a regular file (the training lock file)", p);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        char buf[32] = "";
        const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK) return gl_set_err(err, errlen, "%s: cannot lock: %s", p, strerror(e));
        buf[n > 0 ? n : 0] = 0;
        const long pid = strtol(buf, NULL, 10);
        char who[40] = "pid unknown: it has not written it yet";
        if (pid > 0) snprintf(who, sizeof who, "pid %ld", pid);
        return gl_set_err(err, errlen, "%s: in use by another gliner train (%s); wait for it to end or choose another "
                          "output directory", t->outdir, who);
    }
    char buf[32];
    const int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        const int e = errno;
        close(fd);
        return gl_set_err(err, errlen, "%s: cannot write: %s", p, strerror(e ? e : EIO));
    }
    t->lock_fd = fd;
    return 0;
}

/* OUTDIR/train.log or train_log.jsonl, appended to (a resumed run continues them). A FIFO without a reader is an
   error, not a wait. */
static FILE* open_log(const char* path, char* err, size_t errlen) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0666);
    if (fd < 0) {
        gl_set_err(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        return NULL;
    }
    FILE* f = fcntl(fd, F_SETFL, O_APPEND) == 0 ? fdopen(fd, "a") : NULL; /* blocking writes from here */
    if (!f) {
        gl_set_err(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

/* closes the logs, reporting a failed final write (0 or -1 with err) */
static int close_logs(Trainer* t, char* err, size_t errlen) {
    int rc = logs_failed(t, err, errlen);
    FILE* fs[2] = {t->jlog, t->tlog};
    const char* names[2] = {"train_log.jsonl", "train.log"};
    t->jlog = t->tlog = NULL;
    for (int i = 0; i < 2; i++) {
        if (!fs[i]) continue;
        errno = 0;
        if (fclose(fs[i]) != 0 && rc == 0)
            rc = gl_set_err(err, errlen, "%s/%s: write failed: %s", t->outdir, names[i], strerror(errno ? errno : EIO));
    }
    return rc;
}

/* Every rank waits here for rank 0's part of the work, without a timeout: that part may take long (a backbone
   download, an evaluation); a rank that fails ends the job (comm_abort), so nobody waits forever on a failure. */
static int job_wait(Trainer* t, const char* what, char* err, size_t errlen) {
    if (t->world == 1) return 0;
    const double keep = t->comm->timeout_s;
    t->comm->timeout_s = 0;
    const int rc = comm_barrier(t->comm, what, err, errlen);
    t->comm->timeout_s = keep;
    return rc;
}

/* several ranks: the gradients' communicator (NCCL over the job's on GPUs) and the buckets */
static int ddp_setup(Trainer* t, char* err, size_t errlen) {
    const TrainConfig* tc = &t->tc;
    t->gcomm = t->comm;
    if (!t->on_host) {
        if (!(t->gcomm = comm_nccl_new(t->comm, t->comm->local_rank, err, errlen))) return -1;
        t->gcomm->timeout_s = tc->collective_timeout_s;
    }
    const size_t cap = (size_t)(tc->ddp_bucket_cap_mb * 1048576.0);
    if (ddp_init(&t->ddp, t->gcomm, t->m->base, &t->m->table, t->gc.grads, cap, tc->ddp_reduce_bf16,
                 t->zero ? t->z_counts : NULL, t->zero ? t->z_displs : NULL, err, errlen))
        return -1;
    say(t, "gradients: %d bucket%s of at most %g MB, %s through %s as the backward finishes each%s", t->ddp.nb,
        t->ddp.nb == 1 ? "" : "s", tc->ddp_bucket_cap_mb, t->zero ? "reduce-scattered (ZeRO-1)" : "all-reduced",
        t->gcomm->name, tc->ddp_reduce_bf16 ? ", summed in bf16 (ddp_reduce_dtype bf16)" : "");
    return 0;
}

static int setup(Trainer* t, char* err, size_t errlen) {
    const TrainOptions* o = &t->o;
    TrainConfig* tc = &t->tc;
    if (!o->config) return gl_set_err(err, errlen, "no training config (expected: gliner train CONFIG.yaml)");
    if (train_config_load(tc, o->config, err, errlen)) return -1;
    t->comm->timeout_s = tc->collective_timeout_s;
    const char* out = o->output ? o->output : tc->root_dir;
    snprintf(t->outdir, sizeof t->outdir, "%s", out);
    char p[4200];
    if (t->rank == 0) { /* the job's writer */
        if (mkdir(t->outdir, 0777) && errno != EEXIST) return gl_set_err(err, errlen, "%s: %s", t->outdir, strerror(errno));
        if (lock_outdir(t, err, errlen)) return -1; /* before anything is written there */
        snprintf(p, sizeof p, "%s/train.log", t->outdir);
        if (!(t->tlog = open_log(p, err, errlen))) return -1;
    }
    if (t->world > 1) {
        if (o->device && !strncmp(o->device, "cuda:", 5))
            return gl_set_err(err, errlen, "--device %s with %d ranks: give --device cuda, and each rank takes the GPU "
                              "of its local rank (LOCAL_RANK, or its place among the ranks of its machine)", o->device,
                              t->world);
        say(t, "data parallel: %d ranks (%s), a global batch of %d x %d texts per micro-batch", t->world,
            t->comm->name, o->batch_size > 0 ? o->batch_size : tc->train_batch_size, t->world);
    }
    const char* model = o->model ? o->model : tc->prev_path;
    if (!model) { /* train.py: GLiNER.from_config(model_cfg): a new model on model.model_name's pretrained backbone,
                     built once into OUTDIR/init-model (a resumed run finds it there), by rank 0 */
        snprintf(p, sizeof p, "%s/init-model", t->outdir);
        struct stat sb;
        if (t->rank > 0) {
            /* rank 0 builds it; the others read it (job_wait below) */
        } else if (stat(p, &sb) != 0) {
            const uint64_t seed = (uint64_t)(o->seed >= 0 ? o->seed : tc->seed);
            if (gliner_init_model_from_train_config(tc, p, seed, err, errlen)) return -1;
            say(t, "built a new model from the config's backbone into %s (heads initialised with seed %llu)", p,
                (unsigned long long)seed);
        } else if (!S_ISDIR(sb.st_mode)) {
            return gl_set_err(err, errlen, "%s exists and is not a model directory", p);
        }
        if (job_wait(t, "building the initial model", err, errlen)) return -1;
        model = p;
    }
    snprintf(t->model_src, sizeof t->model_src, "%s", model);
    model = t->model_src;
    if (t->rank == 0) checkpoint_clean_stale(t->outdir);

    char dev[32]; /* several ranks: --device cuda is this rank's local GPU (the one it sees, when the launcher binds
                     one GPU per rank through CUDA_VISIBLE_DEVICES) */
    snprintf(dev, sizeof dev, "cuda:%d", gl_device_count() == 1 ? 0 : t->comm->local_rank);
    gliner_options go = {.threads = o->threads,
                         .device = t->world > 1 && o->device && !strcmp(o->device, "cuda") ? dev : o->device};
    if (gliner_load(&t->g, model, &go, err, errlen)) return -1;
    t->m = &((struct GlinerHandle*)t->g)->model;
    const GlinerArch a = t->m->cfg.arch;
    if (arch_is_decoder(a))
        return gl_set_err(err, errlen, "%s: training %s models is not implemented yet", model, arch_name(a));
    /* relex: every op the relex forward and its backward need, before the first step (not a CHECK inside it) */
    if (arch_is_relex(a) && relex_train_check(t->m->base, &t->m->cfg, model, err, errlen)) return -1;
    const char* train = o->train_data ? o->train_data : tc->train_data;
    if (!train) return gl_set_err(err, errlen, "%s: data.train_data is missing", o->config);
    if (train_data_load(&t->data, train, err, errlen)) return -1;
    if (t->data.n == 0) return gl_set_err(err, errlen, "%s: no training records", train);
    const char* ev = o->eval_data ? o->eval_data : tc->val_data_dir;
    struct stat eb;
    if (ev && arch_is_relex(a) && stat(ev, &eb) == 0 && S_ISREG(eb.st_mode)) {
        /* relex: records in the training format, entity and relation P/R/F1 (eval_relex.h); flat_ner False, the
           default of the relex evaluate() */
        if (relex_eval_load(&t->rx_eval, ev, err, errlen)) return -1;
        t->have_eval = t->eval_relex = 1;
    } else if (ev) {
        if (eval_dataset_load_test(ev, &t->eval, &t->eval_labels, &t->eval_flat, err, errlen)) return -1;
        t->have_eval = 1;
    }
    if (check_prompts(t, err, errlen)) return -1; /* before any step: not at step 450 */
    loss_params_from_config(&t->lp, tc);
    if (sched_from_name(tc->scheduler_type, &t->sched))
        return gl_set_err(err, errlen, "%s: training.scheduler_type '%s' is not supported", o->config, tc->scheduler_type);
    t->total_steps = o->steps > 0 ? o->steps : tc->num_steps;
    t->eval_every = o->eval_every > 0 ? o->eval_every : tc->eval_every;
    t->batch = o->batch_size > 0 ? o->batch_size : tc->train_batch_size;
    if (t->batch > 1024) return gl_set_err(err, errlen, "batch size %d: at most 1024", t->batch);
    {   /* the warm-up over the run's steps (a --steps override scales a ratio warm-up, as HF does) */
        TrainConfig tmp = *tc;
        tmp.num_steps = t->total_steps;
        t->warmup = sched_warmup_steps_tc(&tmp);
    }
    if (optim_init(&t->opt, &t->m->table, optim_hparams_from_tc(tc), tc->freeze_components, tc->n_freeze, err, errlen))
        return -1;
    optim_skip_unused(&t->opt, &t->m->cfg);
    if (grad_ctx_init(&t->gc, t->m, err, errlen)) return -1;
    t->m->grad_ckpt = tc->gradient_checkpointing;
    t->on_host = !strcmp(t->m->base->name, "cpu");
    if (t->on_host) {
        t->params_host = t->m->params;
        t->grads_host = t->gc.grads;
    } else {
#ifdef GLINER_HAVE_CUDA
        /* training.bf16 (train.py forces bf16=True): the matrix products in bf16 on the tensor cores, everything
           else fp32 (see backend.h) */
        backend_cuda_set_bf16_compute(tc->bf16 && !o->fp32);
        t->params_host = malloc(t->m->table.total * sizeof(float));
        CHECK(t->params_host, "out of memory");
        t->m->base->download(t->m->base, t->params_host, t->m->params, t->m->table.total);
        dev_opt_init(t);
#else
        return gl_set_err(err, errlen, "training on the %s backend: this build has no CUDA", t->m->base->name);
#endif
    }
    train_state_init(&t->st);
    t->st.data_seed = (uint64_t)(o->seed >= 0 ? o->seed : tc->seed);
    t->st.rng[0] = t->st.data_seed * 0x2545F4914F6CDD1Dull + 1;
    if (o->resume) {
        char dir[4096];
        if (checkpoint_resolve(o->resume, dir, sizeof dir, err, errlen)) return -1;
        TrainState st;
        if (checkpoint_load(dir, &t->m->table, t->params_host, &t->opt, &st, err, errlen)) return -1;
        const int64_t ws = st.world_size > 0 ? st.world_size : 1;
        if (ws != t->world) {
            train_state_free(&st);
            return gl_set_err(err, errlen, "%s: written by a run of %lld rank%s, this run has %d: the data position is "
                              "counted per rank, so the run resumes only with the same world size\n"
                              "  HINT: launch %lld processes (mpirun -np %lld, srun with %lld tasks, or torchrun "
                              "--nproc_per_node %lld)", dir, (long long)ws, ws == 1 ? "" : "s", t->world,
                              (long long)ws, (long long)ws, (long long)ws, (long long)ws);
        }
        if (t->world > 1) st.rng[0] = st.rank_rng[t->rank]; /* this rank's own sampling state */
        train_state_free(&t->st);
        t->st = st;
        state_to_device(t);
        say(t, "resumed from %s at step %lld (epoch %lld, example %lld of %zu)", dir, (long long)st.global_step,
            (long long)st.epoch_index, (long long)st.position, t->data.n);
    }
    stats_init(t); /* after a resume: AdamW's step count goes on from the checkpoint's */
    t->st.world_size = t->world;
    /* GLINER_DDP=1: the data-parallel path with one rank too, ZeRO-1's included (its tests: the same bytes as the
       plain path; with a GPU, the NCCL communicator of world size 1) */
    const int dp = t->world > 1 || gl_env_is("GLINER_DDP", "1");
    if (tc->zero_stage == 1 && dp && zero_init(t, err, errlen)) return -1;
    if (tc->zero_stage == 1 && !dp) say(t, "note: training.zero_stage 1 with one rank: nothing to shard");
    if (dp && ddp_setup(t, err, errlen)) return -1;
    t->rng = &t->st.rng[0];
    t->st.max_steps = t->total_steps;
    t->st.train_batch_size = t->batch;
    t->st.logging_steps = t->st.save_steps = t->st.eval_steps = t->eval_every;
    snprintf(p, sizeof p, "%s/train_log.jsonl", t->outdir);
    if (t->rank == 0 && !(t->jlog = open_log(p, err, errlen))) return -1;
    return 0;
}

static void teardown(Trainer* t) {
    ddp_free(&t->ddp);
    if (t->gcomm && t->gcomm != t->comm) comm_free(t->gcomm);
    if (t->stats) t->m->base->free(t->m->base, t->stats);
    free(t->zm);
    free(t->zv);
    free(t->z_counts);
    free(t->z_displs);
    if (t->gc.m) grad_ctx_free(&t->gc);
    if (!t->on_host) free(t->params_host);
#ifdef GLINER_HAVE_CUDA
    dev_opt_free(t);
#endif
    optim_free(&t->opt);
    train_state_free(&t->st);
    if (t->have_eval && !t->eval_relex) {
        eval_data_free(&t->eval);
        eval_labels_free(&t->eval_labels);
    }
    if (t->eval_relex) relex_eval_free(&t->rx_eval);
    train_data_free(&t->data);
    gliner_free(t->g);
    train_config_free(&t->tc);
    free(t->order);
    for (size_t i = 0; i < t->ltok.cap; i++) free((char*)t->ltok.key[i]);
    sm_free(&t->ltok);
    if (t->jlog) fclose(t->jlog);
    if (t->tlog) fclose(t->tlog);
    if (t->lock_fd >= 0) close(t->lock_fd); /* releases the lock: the last thing the run does */
}

/* ---------------------------------------------------------------- the loop */

/* Tests of the fault handling (tests/cli/test_train_mpi.sh): GLINER_TEST_FAULT=hang:RANK:STEP makes that rank stop
   before the update of that step (a hung process), exit:RANK:STEP makes it exit with status 3 (a dead one). */
static void fault_inject(const Trainer* t) {
    const char* f = getenv("GLINER_TEST_FAULT");
    char kind[8];
    int r;
    long long step;
    if (!f || sscanf(f, "%7[a-z]:%d:%lld", kind, &r, &step) != 3 || r != t->rank || step != t->st.global_step + 1) return;
    if (!strcmp(kind, "exit")) _exit(3);
    if (!strcmp(kind, "hang"))
        for (;;) sleep(1000);
}

int gliner_train(const TrainOptions* opts, char* err, size_t errlen) {
    Trainer* t = calloc(1, sizeof *t);
    CHECK(t, "out of memory");
    t->o = *opts;
    t->order_epoch = -1;
    t->lock_fd = -1;
    t->world = 1;
    int rc = -1;
    if (!(t->comm = comm_world(err, errlen))) goto done;
    t->rank = t->comm->rank;
    t->world = t->comm->size;
    rc = setup(t, err, errlen);
    if (rc) goto done;
    const GlinerModel* m = t->m;
    const int accum = t->tc.gradient_accumulation_steps > 0 ? t->tc.gradient_accumulation_steps : 1;
    const int log_every = t->o.log_every > 0 ? t->o.log_every : (int)(t->eval_every / 10 > 0 ? t->eval_every / 10 : 1);
    say(t, "training %s (%s, %zu parameters) on %zu records of %s: %lld steps, batch %d x %d, lr %g / %g, warm-up %lld "
        "steps (%s), %s schedule, %s, output %s",
        t->model_src, arch_name(m->cfg.arch), m->table.num_parameters, t->data.n,
        t->o.train_data ? t->o.train_data : t->tc.train_data, (long long)t->total_steps, t->batch, accum,
        t->tc.lr_encoder, t->tc.lr_others, (long long)t->warmup,
        t->tc.warmup_from == TC_WARMUP_STEPS_ABSOLUTE ? "warmup_steps" :
        t->tc.warmup_from == TC_WARMUP_STEPS_FRACTION ? "warmup_steps as a ratio" :
        t->tc.warmup_from == TC_WARMUP_RATIO ? "warmup_ratio" : "default ratio 0.1",
        t->tc.scheduler_type, m->base->name, t->outdir);
    if (t->tc.bf16 && !t->o.fp32)
        say(t, "precision: training.bf16 is set: %s", t->on_host ? "the CPU trains in fp32 (the reference would autocast "
            "to bf16 on the CPU)" : "bf16 matrix products (tensor cores, fp32 accumulation), fp32 storage, master "
            "weights, gradients and AdamW state");
    if (t->tc.gradient_checkpointing)
        say(t, "gradient checkpointing: each encoder layer's activations are recomputed in the backward (only the "
            "layers' inputs are kept)");
    say(t, "dropout: %g in GLiNER's layers, backbone hidden %g, attention probabilities %g%s", m->cfg.dropout,
        m->cfg.encoder.hidden_dropout_prob, m->cfg.encoder.attention_probs_dropout_prob,
        m->cfg.has_labels_encoder_config ? " (the labels encoder: its own config's)" : "");
    if (t->tc.size_sup >= 0 || !t->tc.shuffle_types || !t->tc.random_drop)
        say(t, "note: training.size_sup / shuffle_types / random_drop are read by the reference and have no effect");
    const TrainExample* ex[1024];
    double t0 = now_s(), t_win = t0;
    int64_t tok_win = 0, samples_win = 0, skipped = 0, truncated = 0, samples_all = 0;
    double t_side = 0; /* evaluation and checkpoint time, not training */
    const int64_t start_step = t->st.global_step;
    while (t->st.global_step < t->total_steps) {
        if (logs_failed(t, err, errlen)) { rc = -1; goto done; }
        grad_ctx_zero(&t->gc);
        for (int a = 0; a < accum; a++) {
            const int n = next_batch(t, ex);
            MicroBatch mb;
            if (mb_build(t, &mb, ex, n, err, errlen)) { mb_free(&mb); rc = -1; goto done; }
            t->gc.dropout_seed = train_rng_next(t->rng); /* from the saved stream: resume redraws the same masks */
            if (t->ddp.nb && a == accum - 1) { /* buckets start during its backward */
                ddp_arm(&t->ddp, t->gc.tape);
                ddp_step_begin(&t->ddp);
            }
            if (grad_step_dev(&t->gc, &mb.in, &mb.tg, &t->lp, t->rng, 1.0f / (float)accum, &t->stats->step_loss,
                              1.0 / accum, err, errlen)) {
                mb_free(&mb);
                rc = -1;
                goto done;
            }
            for (size_t i = 0; i < (size_t)mb.b.B * mb.b.T; i++) tok_win += mb.b.attention_mask[i];
            truncated += mb.b.tokens_truncated;
            samples_win += n;
            samples_all += n;
            mb_free(&mb);
        }
        const double lr_mult = sched_lr_multiplier(t->sched, t->st.global_step, t->total_steps, t->warmup);
        fault_inject(t);
        if (update(t, lr_mult, err, errlen)) { rc = -1; goto done; }
        t->st.global_step++;
        t->st.sched_step = t->st.global_step;
        t->st.epoch = (double)t->st.epoch_index + (double)t->st.position / (double)rank_epoch_len(t);
        const int64_t s = t->st.global_step;
        if (t->on_host && !t->stats->ok) /* host memory: each skipped step reported as it happens */
            say(t, "step %lld: loss or gradient norm (%g) not finite; the step is skipped (parameters unchanged)",
                (long long)s, (double)t->stats->norm);
        const int stop = t->o.stop_at > 0 && s >= t->o.stop_at;
        if (s % log_every == 0 || s == t->total_steps || stop) {
            const TrainStats h = stats_take(t); /* the one wait on the device, every log_every steps */
            skipped += h.win_skipped;
            if (h.win_skipped && !t->on_host)
                say(t, "steps %lld-%lld: %d skipped: loss or gradient norm not finite (parameters unchanged)",
                    (long long)(s - h.win_steps - h.win_skipped + 1), (long long)s, h.win_skipped);
            const double gnorm = h.norm;
            const double loss_win = h.win_loss;
            const int loss_n = h.win_steps;
            const double tn = now_s(), dt = tn - t_win;
            /* the job's throughput: every rank trains as many texts (the sampler pads the epoch for that) */
            const double tok_s = dt > 0 ? (double)tok_win * t->world / dt : 0;
            const double sam_s = dt > 0 ? (double)samples_win * t->world / dt : 0;
            const double per_step = (tn - t0) / (double)(s - start_step);
            char eta[32];
            fmt_eta(eta, sizeof eta, per_step * (double)(t->total_steps - s));
            const double lr = t->tc.lr_encoder * lr_mult;
            say(t, "step %lld/%lld  epoch %.2f  loss %.4f  lr %.3e  grad %.3f  %.0f tok/s  %.2f samples/s  ETA %s",
                (long long)s, (long long)t->total_steps, t->st.epoch, loss_n ? loss_win / loss_n : NAN, lr, (double)gnorm,
                tok_s, sam_s, eta);
            TrainLogEntry e = {.step = s, .epoch = t->st.epoch, .has = TRAIN_LOG_LR | TRAIN_LOG_GRAD_NORM,
                               .learning_rate = lr, .grad_norm = gnorm};
            if (loss_n) { e.has |= TRAIN_LOG_LOSS; e.loss = loss_win / loss_n; }
            train_state_log_append(&t->st, &e);
            jlog_entry(t, &e);
            t_win = tn;
            tok_win = samples_win = 0;
        }
        const int saving = s % t->eval_every == 0 || s == t->total_steps || stop;
        if (saving && t->world > 1) { /* each rank's sampling state, for the checkpoint rank 0 writes */
            if (!t->st.rank_rng) {
                t->st.rank_rng = calloc((size_t)t->world, sizeof *t->st.rank_rng);
                CHECK(t->st.rank_rng, "out of memory");
            }
            if (comm_allgather(t->comm, &t->st.rng[0], sizeof(uint64_t), t->st.rank_rng, "gathering the ranks' sampling "
                               "states for the checkpoint", err, errlen)) { rc = -1; goto done; }
        }
        if (saving && t->zero && !t->o.no_save && zero_gather_state(t, err, errlen)) { rc = -1; goto done; }
        if (saving && t->rank == 0) {
            if (t->have_eval) {
                EvalScores sc, rs;
                const double te = now_s();
                if ((t->eval_relex ? evaluate_relex(t, &sc, &rs, err, errlen) : evaluate(t, &sc, err, errlen))) {
                    rc = -1;
                    goto done;
                }
                say(t, "step %lld: eval P %.2f%%  R %.2f%%  F1 %.2f%%  (%lld gold, %lld predicted, %.1f s)", (long long)s,
                    100 * sc.precision, 100 * sc.recall, 100 * sc.f1, (long long)sc.counts.n_true,
                    (long long)sc.counts.n_pred, now_s() - te);
                TrainLogEntry e = {.step = s, .epoch = t->st.epoch,
                                   .has = TRAIN_LOG_EVAL_F1 | TRAIN_LOG_EVAL_PRECISION | TRAIN_LOG_EVAL_RECALL,
                                   .eval_f1 = sc.f1, .eval_precision = sc.precision, .eval_recall = sc.recall};
                if (t->eval_relex) {
                    say(t, "step %lld: eval relations P %.2f%%  R %.2f%%  F1 %.2f%%  (%lld gold, %lld predicted; strict: "
                        "head, tail, label)", (long long)s, 100 * rs.precision, 100 * rs.recall, 100 * rs.f1,
                        (long long)rs.counts.n_true, (long long)rs.counts.n_pred);
                    e.has |= TRAIN_LOG_EVAL_REL_F1 | TRAIN_LOG_EVAL_REL_PRECISION | TRAIN_LOG_EVAL_REL_RECALL;
                    e.eval_rel_f1 = rs.f1, e.eval_rel_precision = rs.precision, e.eval_rel_recall = rs.recall;
                }
                train_state_log_append(&t->st, &e);
                jlog_entry(t, &e);
                t_win += now_s() - te; /* evaluation time is not training throughput */
                t_side += now_s() - te;
            }
            const double ts = now_s();
            if (save(t, err, errlen)) { rc = -1; goto done; }
            t_win += now_s() - ts;
            t_side += now_s() - ts;
        }
        if (saving && t->zero) zero_save_done(t);
        if (saving && job_wait(t, "rank 0's evaluation and checkpoint", err, errlen)) {
            rc = -1;
            goto done;
        }
        if (stop) {
            say(t, "stopping at step %lld (--stop-at)", (long long)s);
            break;
        }
    }
    const double t_all = now_s() - t0;
    say(t, "done: %lld steps (%lld skipped) in %.1f s; training alone %.1f s, %.3f samples/s (evaluation and"
        " checkpoints %.1f s)", (long long)(t->st.global_step - start_step), (long long)skipped, t_all, t_all - t_side,
        (double)samples_all * t->world / (t_all - t_side), t_side);
    say(t, "memory: the training step's activations, their gradients and saved copies took %.1f MiB at the largest"
        " step (the tape's pool%s)", tape_pool_bytes(t->gc.tape) / 1048576.0,
        t->tc.gradient_checkpointing ? ", with gradient checkpointing" : "");
    if (t->ddp.nb)
        say(t, "data parallel: %lld of %lld bucket reductions started while the backward ran", (long long)t->ddp.started_early,
            (long long)t->ddp.started_total);
    if (truncated)
        say(t, "note: %lld training texts were longer than the cap of %lld sub-tokens per sequence and were cut"
            " (their last words get no label, as in the reference)", (long long)truncated,
            (long long)t->g->model_max_length);
    rc = close_logs(t, err, errlen);
done:
    if (rc && t->tlog) fprintf(t->tlog, "error: %s\n", err);
    if (rc && t->world > 1) { /* the other ranks would wait on this one: the job ends here, this line says why */
        if (!strncmp(err, "rank ", 5)) fprintf(stderr, "gliner train: %s\n", err); /* a collective's: it names the rank */
        else fprintf(stderr, "gliner train: rank %d of %d: %s\n", t->rank, t->world, err);
        comm_abort(t->gcomm ? t->gcomm : t->comm, 1);
    }
    teardown(t);
    comm_free(t->comm);
    free(t);
    return rc;
}
