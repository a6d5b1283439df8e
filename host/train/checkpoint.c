/* checkpoint.c -- training checkpoints: atomic save, rotation, validated load. See checkpoint.h. */
#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "../io/json_pos.h"
#include "../io/model_dir.h"
#include "../io/out_file.h"
#include "../io/read_file.h"
#include "../io/safetensors.h"
#include "../io/weights.h"
#include "../resolve.h"
#include "../log.h"
#include "ops.h" /* cast_forward_cpu */

#define CKPT_PREFIX "checkpoint-"
#define RESUME_FORMAT "gliner.c-resume"
#define OPTIM_FORMAT "gliner.c-adamw"

static int g_fail_at = 0;
void checkpoint_test_fail_at(int stage) { g_fail_at = stage; }

/* ================================================================ TrainState */

void train_state_init(TrainState* s) { memset(s, 0, sizeof *s); }

void train_state_free(TrainState* s) {
    if (!s) return;
    free(s->log);
    free(s->rank_rng);
    free(s->best_model_checkpoint);
    memset(s, 0, sizeof *s);
}

void train_state_log_append(TrainState* s, const TrainLogEntry* e) {
    if (s->n_log == s->cap_log) {
        s->cap_log = s->cap_log ? 2 * s->cap_log : 64;
        s->log = realloc(s->log, (size_t)s->cap_log * sizeof *s->log);
        CHECK(s->log, "out of memory");
    }
    s->log[s->n_log++] = *e;
}

void train_state_copy(TrainState* dst, const TrainState* src) {
    *dst = *src;
    dst->log = NULL;
    dst->n_log = dst->cap_log = 0;
    dst->best_model_checkpoint = src->best_model_checkpoint ? strdup(src->best_model_checkpoint) : NULL;
    dst->rank_rng = NULL;
    if (src->rank_rng && src->world_size > 1) {
        dst->rank_rng = malloc((size_t)src->world_size * sizeof *dst->rank_rng);
        CHECK(dst->rank_rng, "out of memory");
        memcpy(dst->rank_rng, src->rank_rng, (size_t)src->world_size * sizeof *dst->rank_rng);
    }
    for (int i = 0; i < src->n_log; i++) train_state_log_append(dst, &src->log[i]);
}

/* the shortest "%.{15,16,17}g" that reads back as the same double (cJSON's own printer accepts 1 ulp off,
   and prints integers beyond INT_MAX with 15 digits) */
static void fmt_exact(char* buf, size_t len, double x) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
}

static void put_num(char* buf, size_t len, size_t* o, const char* key, double x) {
    if (*o >= len) return;
    if (!isfinite(x)) { *o += (size_t)snprintf(buf + *o, len - *o, ", \"%s\": null", key); return; }
    char num[40];
    fmt_exact(num, sizeof num, x);
    *o += (size_t)snprintf(buf + *o, len - *o, ", \"%s\": %s", key, num);
}

int train_log_write_jsonl(FILE* f, const TrainLogEntry* e) {
    char buf[1024];
    size_t o = (size_t)snprintf(buf, sizeof buf, "{\"step\": %" PRId64, e->step);
    put_num(buf, sizeof buf, &o, "epoch", e->epoch);
    if (e->has & TRAIN_LOG_LOSS) put_num(buf, sizeof buf, &o, "loss", e->loss);
    if (e->has & TRAIN_LOG_LR) put_num(buf, sizeof buf, &o, "lr", e->learning_rate);
    if (e->has & TRAIN_LOG_GRAD_NORM) put_num(buf, sizeof buf, &o, "grad_norm", e->grad_norm);
    if (e->has & TRAIN_LOG_EVAL_LOSS) put_num(buf, sizeof buf, &o, "eval_loss", e->eval_loss);
    if (e->has & TRAIN_LOG_EVAL_F1) put_num(buf, sizeof buf, &o, "f1", e->eval_f1);
    if (e->has & TRAIN_LOG_EVAL_PRECISION) put_num(buf, sizeof buf, &o, "precision", e->eval_precision);
    if (e->has & TRAIN_LOG_EVAL_RECALL) put_num(buf, sizeof buf, &o, "recall", e->eval_recall);
    if (e->has & TRAIN_LOG_EVAL_REL_F1) put_num(buf, sizeof buf, &o, "rel_f1", e->eval_rel_f1);
    if (e->has & TRAIN_LOG_EVAL_REL_PRECISION) put_num(buf, sizeof buf, &o, "rel_precision", e->eval_rel_precision);
    if (e->has & TRAIN_LOG_EVAL_REL_RECALL) put_num(buf, sizeof buf, &o, "rel_recall", e->eval_rel_recall);
    if (o + 3 > sizeof buf) return -1; /* cannot happen: 12 numbers of at most 24 characters */
    o += (size_t)snprintf(buf + o, sizeof buf - o, "}\n");
    if (fwrite(buf, 1, o, f) != o || fflush(f) != 0) return -1;
    return 0;
}

/* ================================================================ names */

/* "checkpoint-<digits>" (at most 18 digits: an int64) -> 1 and *step */
static int parse_ckpt_name(const char* name, int64_t* step) {
    size_t pl = strlen(CKPT_PREFIX);
    if (strncmp(name, CKPT_PREFIX, pl)) return 0;
    const char* d = name + pl;
    size_t n = strlen(d);
    if (n == 0 || n > 18) return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9') return 0;
        v = v * 10 + (d[i] - '0');
    }
    *step = v;
    return 1;
}

static int is_dir_nolink(const char* path) {
    struct stat sb;
    return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int path_join(char* out, size_t len, const char* a, const char* b, char* err, size_t errlen) {
    if (snprintf(out, len, "%s/%s", a, b) >= (int)len) return gl_set_err(err, errlen, "%s/%s: path too long", a, b);
    return 0;
}

/* ================================================================ JSON numbers, exactly */

static cJSON* num_exact(double x) {
    if (!isfinite(x)) return cJSON_CreateNull();
    char buf[64];
    fmt_exact(buf, sizeof buf, x);
    return cJSON_CreateRaw(buf);
}

static cJSON* int_exact(int64_t x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, x);
    return cJSON_CreateRaw(buf);
}

static cJSON* hex_u64(uint64_t x) {
    char buf[24];
    snprintf(buf, sizeof buf, "%016" PRIx64, x);
    return cJSON_CreateString(buf);
}

static int write_json(const char* path, cJSON* root, char* err, size_t errlen) {
    char* s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) return gl_set_err(err, errlen, "%s: out of memory while formatting", path);
    size_t n = strlen(s);
    char* t = malloc(n + 2);
    CHECK(t, "out of memory");
    memcpy(t, s, n);
    t[n] = '\n';
    cJSON_free(s);
    int rc = gl_write_file(path, GL_OUT_NEW, t, n + 1, err, errlen); /* inside the checkpoint's temporary directory */
    free(t);
    return rc;
}

/* ================================================================ save */

static cJSON* state_to_json(const TrainState* s) {
    /* keys in HF's order (json.dumps(..., sort_keys=True)) */
    cJSON* o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "best_metric", s->has_best ? num_exact(s->best_metric) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "best_model_checkpoint", s->has_best && s->best_model_checkpoint
                                                          ? cJSON_CreateString(s->best_model_checkpoint)
                                                          : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "epoch", num_exact(s->epoch));
    cJSON_AddItemToObject(o, "eval_steps", int_exact(s->eval_steps));
    cJSON_AddItemToObject(o, "global_step", int_exact(s->global_step));
    cJSON_AddBoolToObject(o, "is_hyper_param_search", 0);
    cJSON_AddBoolToObject(o, "is_local_process_zero", 1);
    cJSON_AddBoolToObject(o, "is_world_process_zero", 1);
    cJSON* lh = cJSON_AddArrayToObject(o, "log_history");
    for (int i = 0; i < s->n_log; i++) {
        const TrainLogEntry* e = &s->log[i];
        cJSON* j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "epoch", num_exact(e->epoch));
        if (e->has & TRAIN_LOG_EVAL_F1) cJSON_AddItemToObject(j, "eval_f1", num_exact(e->eval_f1));
        if (e->has & TRAIN_LOG_EVAL_LOSS) cJSON_AddItemToObject(j, "eval_loss", num_exact(e->eval_loss));
        if (e->has & TRAIN_LOG_EVAL_PRECISION) cJSON_AddItemToObject(j, "eval_precision", num_exact(e->eval_precision));
        if (e->has & TRAIN_LOG_EVAL_RECALL) cJSON_AddItemToObject(j, "eval_recall", num_exact(e->eval_recall));
        if (e->has & TRAIN_LOG_EVAL_REL_F1) cJSON_AddItemToObject(j, "eval_rel_f1", num_exact(e->eval_rel_f1));
        if (e->has & TRAIN_LOG_EVAL_REL_PRECISION)
            cJSON_AddItemToObject(j, "eval_rel_precision", num_exact(e->eval_rel_precision));
        if (e->has & TRAIN_LOG_EVAL_REL_RECALL) cJSON_AddItemToObject(j, "eval_rel_recall", num_exact(e->eval_rel_recall));
        if (e->has & TRAIN_LOG_GRAD_NORM) cJSON_AddItemToObject(j, "grad_norm", num_exact(e->grad_norm));
        if (e->has & TRAIN_LOG_LR) cJSON_AddItemToObject(j, "learning_rate", num_exact(e->learning_rate));
        if (e->has & TRAIN_LOG_LOSS) cJSON_AddItemToObject(j, "loss", num_exact(e->loss));
        cJSON_AddItemToObject(j, "step", int_exact(e->step));
        cJSON_AddItemToArray(lh, j);
    }
    cJSON_AddItemToObject(o, "logging_steps", int_exact(s->logging_steps));
    cJSON_AddItemToObject(o, "max_steps", int_exact(s->max_steps));
    cJSON_AddItemToObject(o, "num_train_epochs", int_exact(s->num_train_epochs));
    cJSON_AddItemToObject(o, "save_steps", int_exact(s->save_steps));
    cJSON_AddItemToObject(o, "total_flos", int_exact(0));
    cJSON_AddItemToObject(o, "train_batch_size", int_exact(s->train_batch_size));
    cJSON_AddNullToObject(o, "trial_name");
    cJSON_AddNullToObject(o, "trial_params");
    return o;
}

static cJSON* resume_to_json(const TrainState* s) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", RESUME_FORMAT);
    cJSON_AddItemToObject(o, "version", int_exact(1));
    cJSON_AddItemToObject(o, "global_step", int_exact(s->global_step));
    cJSON_AddItemToObject(o, "epoch_index", int_exact(s->epoch_index));
    cJSON_AddItemToObject(o, "position", int_exact(s->position));
    cJSON_AddItemToObject(o, "sched_step", int_exact(s->sched_step));
    if (s->world_size > 1) {
        cJSON_AddItemToObject(o, "world_size", int_exact(s->world_size));
        cJSON* rr = cJSON_AddArrayToObject(o, "rank_rng");
        for (int64_t i = 0; s->rank_rng && i < s->world_size; i++) cJSON_AddItemToArray(rr, hex_u64(s->rank_rng[i]));
    }
    cJSON_AddItemToObject(o, "data_seed", hex_u64(s->data_seed));
    cJSON* r = cJSON_AddArrayToObject(o, "rng");
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(r, hex_u64(s->rng[i]));
    return o;
}

static int tensor_has_unknown_dim(const ParamSpec* ps) {
    for (int d = 0; d < ps->ndim; d++)
        if (ps->shape[d] < 0) return 1;
    return 0;
}

static int save_weights(const CheckpointSave* cs, const char* path, char* err, size_t errlen) {
    const ParamTable* t = cs->table;
    StTensorIn* ts = calloc((size_t)t->n + 1, sizeof *ts);
    CHECK(ts, "out of memory");
    int n = 0, rc = -1;
    SafeTensors src;
    int have_src = 0;
    if (cs->model_src && weights_present(cs->model_src)) { /* model.safetensors or pytorch_model.bin */
        if (weights_open_dir(&src, cs->model_src, NULL, 0, err, errlen)) goto done;
        have_src = 1;
    }
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* ps = &t->p[i];
        if (ps->optional) {
            /* not in the buffer, never trained: the source's tensor as it is (a BERT pooler, a tied lm_head) */
            const TensorView* tv = have_src ? st_find(&src, ps->name) : NULL;
            if (tv) ts[n++] = (StTensorIn){tv->name, tv->dtype, tv->ndim, tv->shape, tv->data};
            continue;
        }
        if (tensor_has_unknown_dim(ps)) continue;
        ts[n++] = (StTensorIn){ps->name, DTYPE_F32, ps->ndim, ps->shape, cs->params + ps->offset};
    }
    rc = st_write_ex(path, GL_OUT_NEW, ts, n, NULL, err, errlen);
done:
    if (have_src) st_close(&src);
    free(ts);
    return rc;
}

static int save_optimizer(const Optimizer* o, const ParamTable* t, const char* path, char* err, size_t errlen) {
    StTensorIn* ts = calloc(2 * (size_t)t->n + 1, sizeof *ts);
    char** names = calloc(2 * (size_t)t->n + 1, sizeof *names);
    CHECK(ts && names, "out of memory");
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* ps = &t->p[i];
        if (ps->optional || tensor_has_unknown_dim(ps)) continue;
        for (int k = 0; k < 2; k++) {
            size_t len = strlen(ps->name) + 16;
            names[n] = malloc(len);
            CHECK(names[n], "out of memory");
            snprintf(names[n], len, "%s.%s", k ? "exp_avg_sq" : "exp_avg", ps->name);
            ts[n] = (StTensorIn){names[n], DTYPE_F32, ps->ndim, ps->shape, (k ? o->v : o->m) + ps->offset};
            n++;
        }
    }
    int64_t step = o->step;
    ts[n++] = (StTensorIn){"step", DTYPE_I64, 0, NULL, &step};
    char steps[32];
    snprintf(steps, sizeof steps, "%" PRId64, o->step);
    const char* meta[] = {"format", OPTIM_FORMAT, "version", "1", "step", steps, NULL};
    int rc = st_write_ex(path, GL_OUT_NEW, ts, n, meta, err, errlen);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(ts);
    return rc;
}

static int fail_here(int stage, char* err, size_t errlen) {
    if (g_fail_at != stage) return 0;
    return gl_set_err(err, errlen, "checkpoint: injected failure at stage %d (test)", stage);
}

int checkpoint_save(const CheckpointSave* cs, char* path_out, size_t path_len, char* err, size_t errlen) {
    CHECK(cs && cs->outdir && cs->cfg && cs->table && cs->params && cs->state, "checkpoint_save: missing argument");
    CHECK(!cs->opt || cs->opt->table->total == cs->table->total, "checkpoint_save: optimizer of another table");
    const char* out = cs->outdir;
    int64_t step = cs->state->global_step;
    if (step < 0) return gl_set_err(err, errlen, "%s: cannot save a checkpoint for step %" PRId64, out, step);
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        return gl_set_err(err, errlen, "%s: cannot create: %s", out, strerror(errno));
    struct stat sb;
    if (stat(out, &sb) != 0 || !S_ISDIR(sb.st_mode)) return gl_set_err(err, errlen, "%s: not a directory", out);
    char name[64], final[4096], p[4096];
    snprintf(name, sizeof name, CKPT_PREFIX "%" PRId64, step);
    if (path_join(final, sizeof final, out, name, err, errlen)) return -1;

    /* OUTDIR/.checkpoint-<step>.tmp.<pid>.<k>, renamed to checkpoint-<step> at the end (an existing checkpoint
       directory of the same step is replaced; anything else there is an error) */
    MdOut d;
    if (md_out_begin(&d, final, 1, err, errlen)) return -1;
    const char* tmp = d.tmp;
    if (strlen(tmp) + 40 >= sizeof p) { gl_set_err(err, errlen, "%s: path too long", tmp); goto fail; }
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    if (save_weights(cs, p, err, errlen)) goto fail;
    snprintf(p, sizeof p, "%s/gliner_config.json", tmp);
    if (gliner_config_save_ex(cs->cfg, p, GL_OUT_NEW, err, errlen)) goto fail;
    if (fail_here(1, err, errlen)) goto fail;
    if (cs->model_src && md_copy_files(cs->model_src, tmp, md_is_tokenizer_file, err, errlen)) goto fail;
    if (cs->res && resolved_write_tokenizers(cs->res, tmp, err, errlen)) goto fail; /* it then loads on its own */
    if (fail_here(2, err, errlen)) goto fail;
    snprintf(p, sizeof p, "%s/trainer_state.json", tmp);
    if (write_json(p, state_to_json(cs->state), err, errlen)) goto fail;
    if (cs->opt) {
        snprintf(p, sizeof p, "%s/optimizer.safetensors", tmp);
        if (save_optimizer(cs->opt, cs->table, p, err, errlen)) goto fail;
    }
    snprintf(p, sizeof p, "%s/resume.json", tmp);
    if (write_json(p, resume_to_json(cs->state), err, errlen)) goto fail;
    if (fail_here(3, err, errlen)) goto fail;
    if (fail_here(4, err, errlen)) goto fail;
    if (md_out_commit(&d, err, errlen)) return -1; /* removes the temporary on failure */
    if (path_out) snprintf(path_out, path_len, "%s", final);
    if (cs->save_total_limit > 0 && checkpoint_rotate(out, cs->save_total_limit, step, err, errlen) < 0)
        log_warn("checkpoint: rotation: %s", err);
    return 0;
fail:
    md_out_abort(&d);
    return -1;
}

/* ================================================================ directory scans */

typedef struct {
    int64_t step;
    char    name[64];
} CkptEnt;

static int cmp_ent(const void* a, const void* b) {
    const CkptEnt *x = a, *y = b;
    return x->step < y->step ? -1 : x->step > y->step;
}

/* checkpoint-<N> directories of outdir (following links when follow, else real directories only), sorted */
static int list_ckpts(const char* outdir, int follow, CkptEnt** out, int* n_out, char* err, size_t errlen) {
    DIR* d = opendir(outdir);
    if (!d) return gl_set_err(err, errlen, "%s: cannot list: %s", outdir, strerror(errno));
    CkptEnt* a = NULL;
    int n = 0, cap = 0;
    struct dirent* e;
    char p[4096];
    while ((e = readdir(d))) {
        int64_t step;
        if (!parse_ckpt_name(e->d_name, &step)) continue;
        if (snprintf(p, sizeof p, "%s/%s", outdir, e->d_name) >= (int)sizeof p) continue;
        struct stat sb;
        if ((follow ? stat(p, &sb) : lstat(p, &sb)) != 0 || !S_ISDIR(sb.st_mode)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            a = realloc(a, (size_t)cap * sizeof *a);
            CHECK(a, "out of memory");
        }
        a[n].step = step;
        snprintf(a[n].name, sizeof a[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    if (n > 1) qsort(a, (size_t)n, sizeof *a, cmp_ent);
    *out = a;
    *n_out = n;
    return 0;
}

int checkpoint_rotate(const char* outdir, int limit, int64_t keep_step, char* err, size_t errlen) {
    if (limit <= 0) return 0;
    CkptEnt* a;
    int n;
    if (list_ckpts(outdir, 0, &a, &n, err, errlen)) return -1;
    int to_delete = n - limit, deleted = 0;
    char p[4096];
    for (int i = 0; i < n && deleted < to_delete; i++) {
        if (a[i].step == keep_step) continue;
        snprintf(p, sizeof p, "%s/%s", outdir, a[i].name);
        log_info("deleting older checkpoint %s (save_total_limit %d)", p, limit);
        md_remove_tree(p);
        deleted++;
    }
    free(a);
    return deleted;
}

int checkpoint_clean_stale(const char* outdir) {
    int removed = md_clean_stale(outdir, CKPT_PREFIX, 1); /* .checkpoint-<step>.{tmp,old}.<pid>.<k> */
    /* and the names of earlier versions: .tmp-checkpoint-<step>-<pid>, .old-checkpoint-<step>-<pid> */
    DIR* d = opendir(outdir);
    if (!d) return removed;
    struct dirent* e;
    char p[4096], q[4096];
    while ((e = readdir(d))) {
        int old = !strncmp(e->d_name, ".old-" CKPT_PREFIX, 5 + strlen(CKPT_PREFIX));
        if (!old && strncmp(e->d_name, ".tmp-" CKPT_PREFIX, 5 + strlen(CKPT_PREFIX))) continue;
        long long step;
        int pid, used = 0;
        if (sscanf(e->d_name + 5 + strlen(CKPT_PREFIX), "%lld-%d%n", &step, &pid, &used) != 2 ||
            e->d_name[5 + strlen(CKPT_PREFIX) + used] != 0 || pid <= 0)
            continue;
        if (!gl_out_pid_dead(pid)) continue; /* alive (or not ours to judge) */
        if (snprintf(p, sizeof p, "%s/%s", outdir, e->d_name) >= (int)sizeof p || !is_dir_nolink(p)) continue;
        snprintf(q, sizeof q, "%s/" CKPT_PREFIX "%lld", outdir, step);
        struct stat sb;
        if (old && lstat(q, &sb) != 0 && rename(p, q) == 0) { /* the crash came between the two renames */
            log_warn("checkpoint: restored %s from %s", q, p);
            continue;
        }
        log_warn("checkpoint: removing %s (left by process %d)", p, pid);
        md_remove_tree(p);
        removed++;
    }
    closedir(d);
    return removed;
}

int checkpoint_find_latest(const char* outdir, char* path, size_t path_len, int64_t* step, char* err, size_t errlen) {
    CkptEnt* a;
    int n;
    if (list_ckpts(outdir, 1, &a, &n, err, errlen)) return -1;
    if (n == 0) { free(a); return 1; }
    int rc = 0;
    if (snprintf(path, path_len, "%s/%s", outdir, a[n - 1].name) >= (int)path_len)
        rc = gl_set_err(err, errlen, "%s/%s: path too long", outdir, a[n - 1].name);
    if (step) *step = a[n - 1].step;
    free(a);
    return rc;
}

int checkpoint_resolve(const char* path, char* out, size_t out_len, char* err, size_t errlen) {
    char p[4096];
    struct stat sb;
    if (stat(path, &sb) != 0) return gl_set_err(err, errlen, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return gl_set_err(err, errlen, "%s: not a directory", path);
    if (path_join(p, sizeof p, path, "trainer_state.json", err, errlen)) return -1;
    if (stat(p, &sb) == 0) {
        if (snprintf(out, out_len, "%s", path) >= (int)out_len) return gl_set_err(err, errlen, "%s: path too long", path);
        return 0;
    }
    int rc = checkpoint_find_latest(path, out, out_len, NULL, err, errlen);
    if (rc == 1)
        return gl_set_err(err, errlen, "%s: no checkpoint here (expected a checkpoint-<step> directory or a "
                                       "checkpoint directory with trainer_state.json)", path);
    return rc;
}

/* ================================================================ load */

typedef struct {
    const char* path; /* for messages */
    const char* text;
    size_t      len;
} JsonSrc;


/* "PATH:LINE:COL: key" for a top-level key (the position of its value), or "PATH: key" */
static void where_key(const JsonSrc* js, const char* key, char* out, size_t n) {
    int line, col;
    const char* path[1] = {key};
    if (json_locate(js->text, js->len, path, 1, &line, &col) == 0) snprintf(out, n, "%s:%d:%d: %s", js->path, line, col, key);
    else snprintf(out, n, "%s: %s", js->path, key);
}

static int bad_value(const JsonSrc* js, const char* key, const cJSON* v, const char* expected, char* err, size_t errlen) {
    char w[4400], found[80];
    where_key(js, key, w, sizeof w);
    json_describe(v, found, sizeof found);
    return gl_set_err(err, errlen, "%s: expected %s, found %s", w, expected, v ? found : "nothing (missing)");
}

/* a whole number in [0, 2^53] (exact in a double) */
static int as_count(const cJSON* v, int64_t* out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *out = (int64_t)d;
    return 1;
}

static int get_count(const JsonSrc* js, const cJSON* o, const char* key, int required, int64_t* out, char* err,
                     size_t errlen) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v && !required) return 0;
    if (!as_count(v, out)) return bad_value(js, key, v, "an integer >= 0", err, errlen);
    return 0;
}

static int as_hex_u64(const cJSON* v, uint64_t* out) {
    if (!cJSON_IsString(v) || !v->valuestring) return 0;
    const char* s = v->valuestring;
    size_t n = strlen(s);
    if (n == 0 || n > 16) return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        x = (x << 4) | (uint64_t)d;
    }
    *out = x;
    return 1;
}

static char* slurp(const char* path, size_t* len, char* err, size_t errlen) {
    /* the shared reader (a FIFO or device is refused without blocking) */
    return gl_read_file(path, (size_t)1 << 30, "a checkpoint's JSON file", len, NULL, err, errlen);
}

static cJSON* parse_obj(const JsonSrc* js, char* err, size_t errlen) {
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(js->text, js->len, &end, 0);
    if (!root) {
        size_t at = end && end >= js->text && end <= js->text + js->len ? (size_t)(end - js->text) : 0;
        int line, col;
        json_offset_to_linecol(js->text, at, &line, &col);
        gl_set_err(err, errlen, "%s:%d:%d: invalid JSON", js->path, line, col);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        char found[80];
        json_describe(root, found, sizeof found);
        gl_set_err(err, errlen, "%s: expected a JSON object, found %s", js->path, found);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static const struct {
    const char* key;
    unsigned    bit;
    size_t      off;
} LOG_KEYS[] = {
    {"loss", TRAIN_LOG_LOSS, offsetof(TrainLogEntry, loss)},
    {"learning_rate", TRAIN_LOG_LR, offsetof(TrainLogEntry, learning_rate)},
    {"grad_norm", TRAIN_LOG_GRAD_NORM, offsetof(TrainLogEntry, grad_norm)},
    {"eval_loss", TRAIN_LOG_EVAL_LOSS, offsetof(TrainLogEntry, eval_loss)},
    {"eval_f1", TRAIN_LOG_EVAL_F1, offsetof(TrainLogEntry, eval_f1)},
    {"eval_precision", TRAIN_LOG_EVAL_PRECISION, offsetof(TrainLogEntry, eval_precision)},
    {"eval_recall", TRAIN_LOG_EVAL_RECALL, offsetof(TrainLogEntry, eval_recall)},
    {"eval_rel_f1", TRAIN_LOG_EVAL_REL_F1, offsetof(TrainLogEntry, eval_rel_f1)},
    {"eval_rel_precision", TRAIN_LOG_EVAL_REL_PRECISION, offsetof(TrainLogEntry, eval_rel_precision)},
    {"eval_rel_recall", TRAIN_LOG_EVAL_REL_RECALL, offsetof(TrainLogEntry, eval_rel_recall)},
};

static int load_trainer_state(const char* dir, TrainState* st, char* err, size_t errlen) {
    char path[4096];
    if (path_join(path, sizeof path, dir, "trainer_state.json", err, errlen)) return -1;
    size_t len;
    char* text = slurp(path, &len, err, errlen);
    if (!text) return -1;
    JsonSrc js = {path, text, len};
    cJSON* o = parse_obj(&js, err, errlen);
    int rc = -1;
    char found[80];
    if (!o) goto done;
    if (get_count(&js, o, "global_step", 1, &st->global_step, err, errlen)) goto done;
    const cJSON* ep = cJSON_GetObjectItemCaseSensitive(o, "epoch");
    if (!cJSON_IsNumber(ep) || !(ep->valuedouble >= 0.0) || isinf(ep->valuedouble)) {
        bad_value(&js, "epoch", ep, "a number >= 0", err, errlen);
        goto done;
    }
    st->epoch = ep->valuedouble;
    if (get_count(&js, o, "max_steps", 0, &st->max_steps, err, errlen) ||
        get_count(&js, o, "num_train_epochs", 0, &st->num_train_epochs, err, errlen) ||
        get_count(&js, o, "train_batch_size", 0, &st->train_batch_size, err, errlen) ||
        get_count(&js, o, "logging_steps", 0, &st->logging_steps, err, errlen) ||
        get_count(&js, o, "save_steps", 0, &st->save_steps, err, errlen) ||
        get_count(&js, o, "eval_steps", 0, &st->eval_steps, err, errlen))
        goto done;
    const cJSON* bm = cJSON_GetObjectItemCaseSensitive(o, "best_metric");
    if (bm && !cJSON_IsNull(bm)) {
        if (!cJSON_IsNumber(bm)) { bad_value(&js, "best_metric", bm, "a number or null", err, errlen); goto done; }
        st->has_best = 1;
        st->best_metric = bm->valuedouble;
    }
    const cJSON* bc = cJSON_GetObjectItemCaseSensitive(o, "best_model_checkpoint");
    if (bc && !cJSON_IsNull(bc)) {
        if (!cJSON_IsString(bc) || !bc->valuestring) {
            bad_value(&js, "best_model_checkpoint", bc, "a string or null", err, errlen);
            goto done;
        }
        st->best_model_checkpoint = strdup(bc->valuestring);
    }
    const cJSON* lh = cJSON_GetObjectItemCaseSensitive(o, "log_history");
    if (!cJSON_IsArray(lh)) { bad_value(&js, "log_history", lh, "a list of objects", err, errlen); goto done; }
    int i = 0;
    for (const cJSON* e = lh->child; e; e = e->next, i++) {
        TrainLogEntry le;
        memset(&le, 0, sizeof le);
        if (!cJSON_IsObject(e)) {
            json_describe(e, found, sizeof found);
            gl_set_err(err, errlen, "%s: log_history[%d]: expected an object, found %s", path, i, found);
            goto done;
        }
        const cJSON* s = cJSON_GetObjectItemCaseSensitive(e, "step");
        if (!as_count(s, &le.step)) {
            json_describe(s, found, sizeof found);
            gl_set_err(err, errlen, "%s: log_history[%d].step: expected an integer >= 0, found %s", path, i,
                       s ? found : "nothing (missing)");
            goto done;
        }
        const cJSON* x = cJSON_GetObjectItemCaseSensitive(e, "epoch");
        if (x) {
            if (!cJSON_IsNumber(x)) {
                json_describe(x, found, sizeof found);
                gl_set_err(err, errlen, "%s: log_history[%d].epoch: expected a number, found %s", path, i, found);
                goto done;
            }
            le.epoch = x->valuedouble;
        }
        for (size_t k = 0; k < sizeof LOG_KEYS / sizeof LOG_KEYS[0]; k++) {
            x = cJSON_GetObjectItemCaseSensitive(e, LOG_KEYS[k].key);
            if (!x) continue;
            double* dst = (double*)((char*)&le + LOG_KEYS[k].off);
            if (cJSON_IsNull(x)) *dst = NAN; /* written for a non-finite value */
            else if (cJSON_IsNumber(x)) *dst = x->valuedouble;
            else {
                json_describe(x, found, sizeof found);
                gl_set_err(err, errlen, "%s: log_history[%d].%s: expected a number or null, found %s", path, i,
                           LOG_KEYS[k].key, found);
                goto done;
            }
            le.has |= LOG_KEYS[k].bit;
        }
        train_state_log_append(st, &le);
    }
    rc = 0;
done:
    cJSON_Delete(o);
    free(text);
    return rc;
}

static int load_resume(const char* dir, TrainState* st, char* err, size_t errlen) {
    char path[4096];
    if (path_join(path, sizeof path, dir, "resume.json", err, errlen)) return -1;
    size_t len;
    char* text = slurp(path, &len, err, errlen);
    if (!text) return -1;
    JsonSrc js = {path, text, len};
    cJSON* o = parse_obj(&js, err, errlen);
    int rc = -1;
    if (!o) goto done;
    const cJSON* f = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsString(f) || strcmp(f->valuestring, RESUME_FORMAT)) {
        bad_value(&js, "format", f, "\"" RESUME_FORMAT "\"", err, errlen);
        goto done;
    }
    int64_t version, gs;
    if (get_count(&js, o, "version", 1, &version, err, errlen)) goto done;
    if (version != 1) { bad_value(&js, "version", cJSON_GetObjectItemCaseSensitive(o, "version"), "1", err, errlen); goto done; }
    if (get_count(&js, o, "global_step", 1, &gs, err, errlen) ||
        get_count(&js, o, "epoch_index", 1, &st->epoch_index, err, errlen) ||
        get_count(&js, o, "position", 1, &st->position, err, errlen) ||
        get_count(&js, o, "sched_step", 1, &st->sched_step, err, errlen) ||
        get_count(&js, o, "world_size", 0, &st->world_size, err, errlen))
        goto done;
    if (gs != st->global_step) {
        gl_set_err(err, errlen, "%s: global_step %" PRId64 " but trainer_state.json says %" PRId64
                   " (files of different checkpoints?)", path, gs, st->global_step);
        goto done;
    }
    const cJSON* ds = cJSON_GetObjectItemCaseSensitive(o, "data_seed");
    if (!as_hex_u64(ds, &st->data_seed)) {
        bad_value(&js, "data_seed", ds, "a string of 1 to 16 hex digits", err, errlen);
        goto done;
    }
    const cJSON* r = cJSON_GetObjectItemCaseSensitive(o, "rng");
    int ok = cJSON_IsArray(r) && cJSON_GetArraySize(r) == 4;
    for (int i = 0; ok && i < 4; i++) ok = as_hex_u64(cJSON_GetArrayItem(r, i), &st->rng[i]);
    if (!ok) { bad_value(&js, "rng", r, "a list of 4 strings of 1 to 16 hex digits", err, errlen); goto done; }
    if (st->world_size > 1) { /* every rank's sampling state */
        const cJSON* rr = cJSON_GetObjectItemCaseSensitive(o, "rank_rng");
        ok = st->world_size <= (1 << 20) && cJSON_IsArray(rr) && cJSON_GetArraySize(rr) == (int)st->world_size;
        if (ok) {
            st->rank_rng = malloc((size_t)st->world_size * sizeof *st->rank_rng);
            CHECK(st->rank_rng, "out of memory");
        }
        for (int i = 0; ok && i < (int)st->world_size; i++) ok = as_hex_u64(cJSON_GetArrayItem(rr, i), &st->rank_rng[i]);
        if (!ok) { bad_value(&js, "rank_rng", rr, "a list of world_size strings of 1 to 16 hex digits", err, errlen); goto done; }
    }
    rc = 0;
done:
    cJSON_Delete(o);
    free(text);
    return rc;
}

typedef struct {
    char*  buf;
    size_t len;
} Msg;

static void first_msg(void* ctx, const char* msg) {
    Msg* m = ctx;
    if (!m->buf[0]) snprintf(m->buf, m->len, "%s", msg);
}

static int load_weights(const char* dir, const ParamTable* t, float* params, char* err, size_t errlen) {
    char path[4096];
    if (path_join(path, sizeof path, dir, "model.safetensors", err, errlen)) return -1;
    SafeTensors st;
    if (st_open(&st, path, err, errlen)) return -1;
    if (err && errlen) err[0] = 0;
    char dummy[8];
    Msg m = {err && errlen ? err : dummy, err && errlen ? errlen : sizeof dummy};
    m.buf[0] = 0;
    int nerr = params_check_file(t, &st, path, first_msg, &m);
    if (nerr) {
        if (nerr > 1 && strlen(m.buf) + 40 < m.len)
            snprintf(m.buf + strlen(m.buf), m.len - strlen(m.buf), " (and %d more)", nerr - 1);
        st_close(&st);
        return -1;
    }
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* ps = &t->p[i];
        if (ps->optional || tensor_has_unknown_dim(ps)) continue;
        const TensorView* tv = st_find(&st, ps->name);
        if (tv->numel == 0) continue;
        if (tv->dtype == DTYPE_F32) memcpy(params + ps->offset, tv->data, tv->nbytes);
        else cast_forward_cpu(params + ps->offset, DTYPE_F32, tv->data, tv->dtype, tv->numel);
    }
    st_close(&st);
    return 0;
}

static void fmt_shape(char* buf, size_t len, int ndim, const int64_t* shape) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && o < len; i++) o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

static int load_optimizer(const char* dir, const ParamTable* t, Optimizer* o, char* err, size_t errlen) {
    CHECK(o->table && o->table->total == t->total && o->m && o->v, "checkpoint_load: optimizer not initialised on this table");
    char path[4096];
    if (path_join(path, sizeof path, dir, "optimizer.safetensors", err, errlen)) return -1;
    SafeTensors st;
    if (st_open(&st, path, err, errlen)) return -1;
    int rc = -1, expected = 1;
    char name[1024], s1[160], s2[160];
    const TensorView* sv = st_find(&st, "step");
    if (!sv || sv->dtype != DTYPE_I64 || sv->numel != 1) {
        gl_set_err(err, errlen, "%s: tensor 'step': expected an I64 scalar (optimizer steps taken)%s", path,
                   sv ? "" : ", missing");
        goto done;
    }
    int64_t step;
    memcpy(&step, sv->data, sizeof step);
    if (step < 0) { gl_set_err(err, errlen, "%s: tensor 'step': %" PRId64 ", expected >= 0", path, step); goto done; }
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* ps = &t->p[i];
        if (ps->optional || tensor_has_unknown_dim(ps)) continue;
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", ps->name);
            expected++;
            const TensorView* tv = st_find(&st, name);
            fmt_shape(s2, sizeof s2, ps->ndim, ps->shape);
            if (!tv) {
                gl_set_err(err, errlen, "%s: tensor '%s': missing (expected F32 %s; a checkpoint of another model?)", path,
                           name, s2);
                goto done;
            }
            int same = tv->dtype == DTYPE_F32 && tv->ndim == ps->ndim;
            for (int d = 0; same && d < ps->ndim; d++) same = tv->shape[d] == ps->shape[d];
            if (!same) {
                fmt_shape(s1, sizeof s1, tv->ndim, tv->shape);
                gl_set_err(err, errlen, "%s: tensor '%s': %s %s, expected F32 %s", path, name, dtype_name(tv->dtype), s1,
                           s2);
                goto done;
            }
            float* dst = (k ? o->v : o->m) + ps->offset;
            memcpy(dst, tv->data, tv->nbytes);
            for (size_t j = 0; j < tv->numel; j++)
                if (!isfinite(dst[j]) || (k && dst[j] < 0.0f)) {
                    gl_set_err(err, errlen, "%s: tensor '%s': element %zu is %g (expected %s)", path, name, j, (double)dst[j],
                               k ? "a finite value >= 0" : "a finite value");
                    goto done;
                }
        }
    }
    if (st.n != expected) {
        for (int i = 0; i < st.n; i++) {
            const char* nm = st.tensors[i].name;
            int known = !strcmp(nm, "step");
            if (!known && (!strncmp(nm, "exp_avg.", 8) || !strncmp(nm, "exp_avg_sq.", 11))) {
                const ParamSpec* ps = params_find(t, strchr(nm, '.') + 1);
                known = ps && !ps->optional && !tensor_has_unknown_dim(ps);
            }
            if (!known) {
                gl_set_err(err, errlen, "%s: tensor '%s': unexpected (this model has no such parameter)", path, nm);
                goto done;
            }
        }
    }
    o->step = step;
    rc = 0;
done:
    st_close(&st);
    return rc;
}

int checkpoint_load(const char* dir, const ParamTable* table, float* params, Optimizer* opt, TrainState* st, char* err,
                    size_t errlen) {
    CHECK(dir && table && params, "checkpoint_load: missing argument");
    if (st) train_state_init(st);
    if (load_weights(dir, table, params, err, errlen)) return -1;
    if (opt && load_optimizer(dir, table, opt, err, errlen)) return -1;
    if (st && (load_trainer_state(dir, st, err, errlen) || load_resume(dir, st, err, errlen))) {
        train_state_free(st);
        return -1;
    }
    return 0;
}
