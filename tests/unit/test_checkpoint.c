/* test_checkpoint.c -- host/train/checkpoint.c: bit-exact save/load round trips on fixture models, atomic
   saves (injected and real failures leave nothing behind), save_total_limit rotation, and corrupted files
   giving one-line errors that name the file.
   GLINER_CKPT_TEST_OUT=DIR: the round-trip test also writes DIR/<model>/checkpoint-<step> for
   scripts/check_checkpoint.py (the reference must load them and predict exactly as from the fixture). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <sys/stat.h>

#include "test_util.h"
#include "io/gliner_config.h"
#include "io/safetensors.h"
#include "model/params.h"
#include "train/checkpoint.h"
#include "train/optim.h"

#define MODELS FIXTURES "/models"

typedef struct {
    char         src[1024];
    GlinerConfig cfg;
    ParamTable   table;
    float*       params;
    Optimizer    opt;
    TrainState   st;
} Fx;

/* a fixture model with random optimizer state and a training state that exercises every field */
static void fx_init(Fx* f, const char* model, uint64_t seed) {
    char err[1024], path[1200];
    memset(f, 0, sizeof *f);
    snprintf(f->src, sizeof f->src, MODELS "/%s", model);
    snprintf(path, sizeof path, "%s/gliner_config.json", f->src);
    cr_assert_eq(gliner_config_load(&f->cfg, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(params_build(&f->table, &f->cfg, err, sizeof err), 0, "%s", err);
    f->params = calloc(f->table.total + 1, sizeof(float));
    /* with opt and st NULL, checkpoint_load reads any model directory's weights */
    cr_assert_eq(checkpoint_load(f->src, &f->table, f->params, NULL, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(optim_init(&f->opt, &f->table, optim_hparams_default(), NULL, 0, err, sizeof err), 0, "%s", err);
    for (int t = 0; t < f->table.n; t++) { /* the tensors' slots; alignment padding stays 0 */
        const ParamSpec* ps = &f->table.p[t];
        if (ps->optional) continue;
        for (size_t i = ps->offset; i < ps->offset + ps->numel; i++) {
            f->opt.m[i] = (float)(tu_uniform(&seed) - 0.5) * 1e-3f;
            f->opt.v[i] = tu_uniform(&seed) * 1e-6f;
        }
    }
    f->opt.step = 1234567;
    train_state_init(&f->st);
    f->st.global_step = 3;
    f->st.epoch = 1.0 / 3.0;
    f->st.epoch_index = 2;
    f->st.position = 4097;
    f->st.data_seed = 0xfedcba9876543210ull;
    for (int i = 0; i < 4; i++) f->st.rng[i] = tu_next(&seed) | (i == 0 ? 0x8000000000000000ull : 0);
    f->st.sched_step = 3;
    f->st.max_steps = 1000;
    f->st.num_train_epochs = 3;
    f->st.train_batch_size = 8;
    f->st.logging_steps = 1;
    f->st.save_steps = 500;
    f->st.eval_steps = 500;
    f->st.has_best = 1;
    f->st.best_metric = 0.123456789012345678;
    f->st.best_model_checkpoint = strdup("out/checkpoint-2");
    double odd[] = {0.1, 1.0 / 3.0, 5e-324, 1e308, 3.0000000000000004, 2.5e-5, 0.30000000000000004};
    for (int i = 0; i < 7; i++) {
        TrainLogEntry e = {0};
        e.step = i + 1;
        e.epoch = odd[i];
        e.has = TRAIN_LOG_LOSS | TRAIN_LOG_LR | TRAIN_LOG_GRAD_NORM;
        e.loss = odd[(i + 1) % 7];
        e.learning_rate = odd[(i + 2) % 7];
        e.grad_norm = i == 3 ? NAN : odd[(i + 3) % 7]; /* a non-finite value survives as NaN */
        if (i % 3 == 2) {
            e.has |= TRAIN_LOG_EVAL_F1 | TRAIN_LOG_EVAL_PRECISION | TRAIN_LOG_EVAL_RECALL | TRAIN_LOG_EVAL_LOSS;
            e.eval_f1 = 2.0 / 3.0;
            e.eval_precision = 0.5;
            e.eval_recall = 1.0;
            e.eval_loss = INFINITY;
        }
        train_state_log_append(&f->st, &e);
    }
}

static void fx_free(Fx* f) {
    free(f->params);
    optim_free(&f->opt);
    train_state_free(&f->st);
    params_free(&f->table);
    gliner_config_free(&f->cfg);
}

static CheckpointSave fx_save_args(const Fx* f, const char* out, int limit) {
    return (CheckpointSave){out, f->src, &f->cfg, &f->table, f->params, &f->opt, &f->st, limit, NULL};
}

static int exists(const char* path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* names in dir starting with prefix */
/* temporaries and directories moved aside: .checkpoint-<step>.{tmp,old}.<pid>.<k>, and the names of earlier
   versions (.tmp-checkpoint-<step>-<pid>, .old-...) */
static int count_temps(const char* dir) {
    DIR* d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent* e;
    while ((e = readdir(d)))
        n += !strncmp(e->d_name, ".tmp-", 5) || !strncmp(e->d_name, ".old-", 5) || strstr(e->d_name, ".tmp.") ||
             strstr(e->d_name, ".old.");
    closedir(d);
    return n;
}

static int is_empty_dir(const char* dir) {
    DIR* d = opendir(dir);
    cr_assert(d, "%s: cannot list", dir);
    int n = 0;
    struct dirent* e;
    while ((e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n == 0;
}

static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

static void expect_same_state(const TrainState* a, const TrainState* b) {
    cr_expect_eq(a->global_step, b->global_step);
    cr_expect(same_double(a->epoch, b->epoch), "epoch %.17g vs %.17g", a->epoch, b->epoch);
    cr_expect_eq(a->epoch_index, b->epoch_index);
    cr_expect_eq(a->position, b->position);
    cr_expect_eq(a->data_seed, b->data_seed);
    for (int i = 0; i < 4; i++) cr_expect_eq(a->rng[i], b->rng[i], "rng[%d]", i);
    cr_expect_eq(a->sched_step, b->sched_step);
    cr_expect(a->max_steps == b->max_steps && a->num_train_epochs == b->num_train_epochs &&
              a->train_batch_size == b->train_batch_size && a->logging_steps == b->logging_steps &&
              a->save_steps == b->save_steps && a->eval_steps == b->eval_steps);
    cr_expect_eq(a->has_best, b->has_best);
    cr_expect(same_double(a->best_metric, b->best_metric));
    cr_expect_str_eq(a->best_model_checkpoint ? a->best_model_checkpoint : "", b->best_model_checkpoint ? b->best_model_checkpoint : "");
    cr_assert_eq(a->n_log, b->n_log);
    for (int i = 0; i < a->n_log; i++) {
        const TrainLogEntry *x = &a->log[i], *y = &b->log[i];
        cr_expect_eq(x->step, y->step);
        cr_expect_eq(x->has, y->has, "log %d: has %x vs %x", i, x->has, y->has);
        cr_expect(same_double(x->epoch, y->epoch), "log %d epoch %.17g vs %.17g", i, x->epoch, y->epoch);
        const double xs[] = {x->loss, x->learning_rate, x->grad_norm, x->eval_f1, x->eval_precision, x->eval_recall};
        const double ys[] = {y->loss, y->learning_rate, y->grad_norm, y->eval_f1, y->eval_precision, y->eval_recall};
        const unsigned bits[] = {TRAIN_LOG_LOSS, TRAIN_LOG_LR, TRAIN_LOG_GRAD_NORM, TRAIN_LOG_EVAL_F1,
                                 TRAIN_LOG_EVAL_PRECISION, TRAIN_LOG_EVAL_RECALL};
        for (int k = 0; k < 6; k++)
            if (x->has & bits[k]) cr_expect(same_double(xs[k], ys[k]), "log %d value %d: %.17g vs %.17g", i, k, xs[k], ys[k]);
        if (x->has & TRAIN_LOG_EVAL_LOSS) cr_expect(isnan(y->eval_loss), "an infinite eval_loss reads back as NaN (null)");
    }
}

static void round_trip(const char* model) {
    char dir[1024], out[1200], ck[1400], err[1024], p[1600];
    tu_tmpdir(dir, sizeof dir, "ckpt_rt");
    const char* env = getenv("GLINER_CKPT_TEST_OUT");
    if (env && *env) {
        mkdir(env, 0755);
        snprintf(out, sizeof out, "%s/%s", env, model);
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", out); /* the test's own output of an earlier run */
        cr_assert(system(cmd) == 0);
    } else
        snprintf(out, sizeof out, "%s/out", dir);
    Fx f;
    fx_init(&f, model, 42);
    CheckpointSave cs = fx_save_args(&f, out, 0);
    cr_assert_eq(checkpoint_save(&cs, ck, sizeof ck, err, sizeof err), 0, "%s", err);
    snprintf(p, sizeof p, "%s/checkpoint-3", out);
    cr_expect_str_eq(ck, p);
    const char* files[] = {"gliner_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                           "trainer_state.json", "optimizer.safetensors", "resume.json"};
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/%s", ck, files[i]);
        cr_expect(exists(p), "%s missing", p);
    }
    snprintf(p, sizeof p, "%s/reference", ck);
    cr_expect(!exists(p), "sub-directories of the source are not copied");
    snprintf(p, sizeof p, "%s/labels_tokenizer/tokenizer.json", ck);
    snprintf(err, sizeof err, "%s/labels_tokenizer", f.src);
    cr_expect_eq(exists(p), exists(err), "labels_tokenizer/ copied when the source has one");
    cr_expect_eq(count_temps(out), 0);

    /* the weights file has every tensor of the source (optional ones copied as they are), bit for bit */
    SafeTensors a, b;
    snprintf(p, sizeof p, "%s/model.safetensors", f.src);
    cr_assert_eq(st_open(&a, p, err, sizeof err), 0, "%s", err);
    snprintf(p, sizeof p, "%s/model.safetensors", ck);
    cr_assert_eq(st_open(&b, p, err, sizeof err), 0, "%s", err);
    cr_expect_eq(b.n_meta, 0, "save_pretrained writes no metadata");
    int n_src = 0;
    for (int i = 0; i < a.n; i++) {
        const TensorView* ta = &a.tensors[i];
        if (!params_find(&f.table, ta->name)) continue; /* buffers the reference never loads */
        n_src++;
        const TensorView* tb = st_find(&b, ta->name);
        cr_assert(tb, "%s: tensor %s not written", model, ta->name);
        cr_expect(ta->dtype == tb->dtype && ta->nbytes == tb->nbytes && !memcmp(ta->data, tb->data, ta->nbytes),
                  "%s: tensor %s differs", model, ta->name);
    }
    cr_expect_eq(b.n, n_src);
    st_close(&a);
    st_close(&b);

    /* load into fresh buffers: bit-exact */
    float* params = calloc(f.table.total + 1, sizeof(float));
    Optimizer o;
    cr_assert_eq(optim_init(&o, &f.table, optim_hparams_default(), NULL, 0, err, sizeof err), 0);
    TrainState st;
    char res[1400];
    cr_assert_eq(checkpoint_resolve(out, res, sizeof res, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(res, ck);
    cr_assert_eq(checkpoint_load(res, &f.table, params, &o, &st, err, sizeof err), 0, "%s", err);
    cr_expect(!memcmp(params, f.params, f.table.total * sizeof(float)), "params differ");
    cr_expect(!memcmp(o.m, f.opt.m, f.table.total * sizeof(float)), "exp_avg differs");
    cr_expect(!memcmp(o.v, f.opt.v, f.table.total * sizeof(float)), "exp_avg_sq differs");
    cr_expect_eq(o.step, f.opt.step);
    expect_same_state(&f.st, &st);
    train_state_free(&st);

    /* the checkpoint dir itself resolves to itself */
    cr_assert_eq(checkpoint_resolve(ck, res, sizeof res, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(res, ck);
    free(params);
    optim_free(&o);
    fx_free(&f);
}

/* every fixture model (each architecture, span mode and encoder family the reference wrote) */
Test(checkpoint, round_trip_bit_exact_all_fixtures) {
    DIR* d = opendir(MODELS);
    cr_assert(d, "cannot list %s", MODELS);
    struct dirent* e;
    int n = 0;
    while ((e = readdir(d))) {
        char cfg[1200];
        snprintf(cfg, sizeof cfg, MODELS "/%s/gliner_config.json", e->d_name);
        if (e->d_name[0] == '.' || !exists(cfg)) continue;
        round_trip(e->d_name);
        n++;
    }
    closedir(d);
    cr_expect(n >= 20, "only %d fixture models", n);
}

/* train_log.jsonl lines: the keys scripts/plot_log.py reads, values exact, non-finite as null */
Test(checkpoint, train_log_jsonl) {
    char dir[1024], path[1200];
    tu_tmpdir(dir, sizeof dir, "ckpt_log");
    const char* env = getenv("GLINER_CKPT_TEST_OUT");
    if (env && *env) {
        mkdir(env, 0755);
        snprintf(path, sizeof path, "%s/train_log.jsonl", env);
    } else
        snprintf(path, sizeof path, "%s/train_log.jsonl", dir);
    Fx f;
    fx_init(&f, "uni_span_bert_markerV0", 5);
    FILE* fp = fopen(path, "w");
    cr_assert(fp);
    for (int i = 0; i < f.st.n_log; i++) cr_assert_eq(train_log_write_jsonl(fp, &f.st.log[i]), 0);
    fclose(fp);
    size_t n;
    char* text = tu_read_file(path, &n);
    cr_assert(text);
    int i = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1, i++) {
        *nl = 0;
        cJSON* j = cJSON_Parse(line);
        cr_assert(j, "line %d is not JSON: %s", i + 1, line);
        const TrainLogEntry* e = &f.st.log[i];
        cr_expect_eq(cJSON_GetObjectItem(j, "step")->valuedouble, (double)e->step);
        cr_expect_eq(cJSON_GetObjectItem(j, "epoch")->valuedouble, e->epoch, "line %d: epoch", i + 1);
        cr_expect_eq(cJSON_GetObjectItem(j, "loss")->valuedouble, e->loss);
        cr_expect_eq(cJSON_GetObjectItem(j, "lr")->valuedouble, e->learning_rate);
        const cJSON* g = cJSON_GetObjectItem(j, "grad_norm");
        if (isnan(e->grad_norm)) cr_expect(cJSON_IsNull(g), "line %d: NaN as null", i + 1);
        else cr_expect_eq(g->valuedouble, e->grad_norm);
        cr_expect_eq(cJSON_GetObjectItem(j, "f1") != NULL, (e->has & TRAIN_LOG_EVAL_F1) != 0);
        if (e->has & TRAIN_LOG_EVAL_F1) {
            cr_expect_eq(cJSON_GetObjectItem(j, "f1")->valuedouble, e->eval_f1);
            cr_expect_eq(cJSON_GetObjectItem(j, "precision")->valuedouble, e->eval_precision);
            cr_expect_eq(cJSON_GetObjectItem(j, "recall")->valuedouble, e->eval_recall);
            cr_expect(cJSON_IsNull(cJSON_GetObjectItem(j, "eval_loss")));
        }
        cJSON_Delete(j);
    }
    cr_expect_eq(i, f.st.n_log);
    free(text);
    fx_free(&f);
}

Test(checkpoint, rotation_limit_2) {
    char dir[1024], out[1200], err[1024], p[1600];
    tu_tmpdir(dir, sizeof dir, "ckpt_rot");
    snprintf(out, sizeof out, "%s/out", dir);
    Fx f;
    fx_init(&f, "uni_span_bert_markerV0", 1);
    /* things rotation must not touch */
    mkdir(out, 0755);
    char keep[1400];
    snprintf(keep, sizeof keep, "%s/precious", dir);
    mkdir(keep, 0755);
    snprintf(p, sizeof p, "%s/checkpoint-0", out);
    cr_assert(symlink(keep, p) == 0);
    snprintf(p, sizeof p, "%s/checkpoint-abc", out);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/checkpoint-00", out); /* a regular file */
    tu_write_file(p, "x", 1);
    for (int s = 1; s <= 4; s++) {
        f.st.global_step = s;
        CheckpointSave cs = fx_save_args(&f, out, 2);
        cr_assert_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), 0, "%s", err);
    }
    for (int s = 1; s <= 4; s++) {
        snprintf(p, sizeof p, "%s/checkpoint-%d", out, s);
        cr_expect_eq(exists(p), s >= 3, "checkpoint-%d", s);
    }
    cr_expect(exists(keep), "a symlinked checkpoint-0 is not followed");
    snprintf(p, sizeof p, "%s/checkpoint-0", out);
    cr_expect(exists(p));
    snprintf(p, sizeof p, "%s/checkpoint-abc", out);
    cr_expect(exists(p));
    snprintf(p, sizeof p, "%s/checkpoint-00", out);
    cr_expect(exists(p));
    char latest[1400];
    int64_t step = -1;
    cr_expect_eq(checkpoint_find_latest(out, latest, sizeof latest, &step, err, sizeof err), 0);
    cr_expect_eq(step, 4);
    /* re-saving an existing step replaces it; saving an older step keeps the one just written */
    f.st.global_step = 4;
    f.st.position = 77;
    CheckpointSave cs = fx_save_args(&f, out, 2);
    cr_assert_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), 0, "%s", err);
    TrainState st;
    float* params = calloc(f.table.total + 1, sizeof(float));
    snprintf(p, sizeof p, "%s/checkpoint-4", out);
    cr_assert_eq(checkpoint_load(p, &f.table, params, NULL, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.position, 77);
    train_state_free(&st);
    f.st.global_step = 2;
    cr_assert_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), 0, "%s", err);
    snprintf(p, sizeof p, "%s/checkpoint-2", out);
    cr_expect(exists(p));
    snprintf(p, sizeof p, "%s/checkpoint-3", out);
    cr_expect(!exists(p));
    snprintf(p, sizeof p, "%s/checkpoint-4", out);
    cr_expect(exists(p));
    cr_expect_eq(count_temps(out), 0);
    /* limit <= 0 keeps everything */
    cr_expect_eq(checkpoint_rotate(out, 0, -1, err, sizeof err), 0);
    cr_expect_eq(checkpoint_rotate(out, 1, -1, err, sizeof err), 1);
    snprintf(p, sizeof p, "%s/checkpoint-4", out);
    cr_expect(exists(p));
    free(params);
    fx_free(&f);
}

Test(checkpoint, failed_save_leaves_nothing) {
    char dir[1024], out[1200], err[1024], p[1600];
    tu_tmpdir(dir, sizeof dir, "ckpt_fail");
    snprintf(out, sizeof out, "%s/out", dir);
    Fx f;
    fx_init(&f, "uni_span_bert_markerV0", 2);
    f.st.global_step = 9;
    snprintf(p, sizeof p, "%s/checkpoint-9", out);
    for (int stage = 1; stage <= 4; stage++) {
        checkpoint_test_fail_at(stage);
        CheckpointSave cs = fx_save_args(&f, out, 1);
        err[0] = 0;
        cr_expect_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), -1, "stage %d", stage);
        cr_expect(strstr(err, "injected failure"), "%s", err);
        cr_expect(!exists(p), "stage %d: a checkpoint directory was left", stage);
        cr_expect_eq(count_temps(out), 0, "stage %d: a temporary directory was left", stage);
    }
    checkpoint_test_fail_at(0);
    /* a real failure: the model source has no readable directory (after the weights were written) */
    CheckpointSave cs = fx_save_args(&f, out, 1);
    cs.model_src = "/nonexistent/model/dir";
    cr_expect_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), -1);
    cr_expect(strstr(err, "/nonexistent/model/dir"), "%s", err);
    cr_expect(!exists(p));
    cr_expect_eq(count_temps(out), 0);
    /* a failed re-save keeps the existing checkpoint intact */
    cs.model_src = f.src;
    cr_assert_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), 0, "%s", err);
    f.st.position = 12345;
    checkpoint_test_fail_at(4);
    cr_expect_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), -1);
    checkpoint_test_fail_at(0);
    TrainState st;
    cr_assert_eq(checkpoint_load(p, &f.table, f.params, NULL, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.position, 4097);
    train_state_free(&st);
    cr_expect_eq(count_temps(out), 0);
    /* the output path is a file */
    snprintf(p, sizeof p, "%s/afile", dir);
    tu_write_file(p, "x", 1);
    cs.outdir = p;
    cr_expect_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), -1);
    cr_expect(strstr(err, "afile: not a directory"), "%s", err);
    /* stale temporary directories of dead processes are cleaned (ours and those of earlier versions), a crashed
       replace is restored */
    char stale[1700];
    const int dead = tu_dead_pid();
    snprintf(stale, sizeof stale, "%s/.tmp-checkpoint-5-%d", out, dead);
    mkdir(stale, 0755);
    snprintf(stale, sizeof stale, "%s/.checkpoint-6.tmp.%d.0", out, dead);
    mkdir(stale, 0755);
    snprintf(stale, sizeof stale, "%s/.checkpoint-6.tmp.%d.0/model.safetensors", out, dead);
    tu_write_file(stale, "half", 4);
    snprintf(stale, sizeof stale, "%s/checkpoint-9", out);
    snprintf(p, sizeof p, "%s/.checkpoint-9.old.%d.0", out, dead);
    cr_assert(rename(stale, p) == 0);
    cr_expect_eq(checkpoint_clean_stale(out), 2);
    cr_expect(exists(stale), "checkpoint-9 restored from .old.");
    cr_expect_eq(count_temps(out), 0);
    snprintf(p, sizeof p, "%s/.old-checkpoint-9-%d", out, dead);
    cr_assert(rename(stale, p) == 0);
    cr_expect_eq(checkpoint_clean_stale(out), 0);
    cr_expect(exists(stale), "checkpoint-9 restored from .old- (an earlier version's name)");
    fx_free(&f);
}

/* what is at OUTDIR/checkpoint-<step> when it is not a checkpoint directory: left alone, a clear error (issue 11: a
   FIFO or a file there used to be moved aside and deleted) */
Test(checkpoint, a_non_directory_at_the_checkpoint_name_is_never_replaced) {
    char dir[1024], out[1200], err[1024], p[1600], victim[1600];
    tu_tmpdir(dir, sizeof dir, "ckpt_nondir");
    snprintf(out, sizeof out, "%s/out", dir);
    cr_assert_eq(mkdir(out, 0755), 0);
    snprintf(p, sizeof p, "%s/checkpoint-9", out);
    snprintf(victim, sizeof victim, "%s/elsewhere", dir);
    cr_assert_eq(mkdir(victim, 0755), 0);
    Fx f;
    fx_init(&f, "uni_span_bert_markerV0", 5);
    f.st.global_step = 9;
    CheckpointSave cs = fx_save_args(&f, out, 0);
    const char* kinds[] = {"FIFO", "regular file", "symbolic link"};
    for (int k = 0; k < 3; k++) {
        if (k == 0) cr_assert_eq(mkfifo(p, 0600), 0);
        if (k == 1) tu_write_file(p, "mine", 4);
        if (k == 2) cr_assert_eq(symlink(victim, p), 0);
        struct stat before, after;
        cr_assert_eq(lstat(p, &before), 0);
        err[0] = 0;
        cr_expect_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), -1, "%s: saved over it", kinds[k]);
        cr_expect(strstr(err, p) && strstr(err, "not a directory"), "%s: %s", kinds[k], err);
        cr_expect(lstat(p, &after) == 0 && after.st_ino == before.st_ino && (after.st_mode & S_IFMT) == (before.st_mode & S_IFMT),
                  "%s: it was replaced", kinds[k]);
        cr_expect_eq(count_temps(out), 0, "%s: a temporary was left", kinds[k]);
        unlink(p);
    }
    cr_expect(is_empty_dir(victim), "something was written through the link");
    fx_free(&f);
}

/* a link planted at the temporary's first name is skipped, not followed, not removed */
Test(checkpoint, a_link_planted_at_the_temporary_name_is_not_followed) {
    char dir[1024], out[1200], err[1024], p[1600], victim[1600];
    tu_tmpdir(dir, sizeof dir, "ckpt_plant");
    snprintf(out, sizeof out, "%s/out", dir);
    cr_assert_eq(mkdir(out, 0755), 0);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    cr_assert_eq(mkdir(victim, 0755), 0);
    snprintf(p, sizeof p, "%s/.checkpoint-4.tmp.%d.0", out, (int)getpid());
    cr_assert_eq(symlink(victim, p), 0);
    Fx f;
    fx_init(&f, "uni_span_bert_markerV0", 6);
    f.st.global_step = 4;
    CheckpointSave cs = fx_save_args(&f, out, 0);
    cr_assert_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), 0, "%s", err);
    struct stat sb;
    cr_expect(lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode), "the planted link was removed");
    cr_expect(is_empty_dir(victim), "something was written through the planted link");
    snprintf(p, sizeof p, "%s/checkpoint-4/model.safetensors", out);
    cr_expect(exists(p));
    fx_free(&f);
}

/* a full disk in the middle of a save: one line naming the file, nothing left, the previous checkpoint intact */
Test(checkpoint, write_errors_are_reported_and_nothing_is_left) {
    char dir[1024], out[1200], err[1024], p[1600];
    tu_tmpdir(dir, sizeof dir, "ckpt_werr");
    snprintf(out, sizeof out, "%s/out", dir);
    Fx f;
    fx_init(&f, "uni_span_bert_markerV0", 7);
    f.st.global_step = 2;
    CheckpointSave cs = fx_save_args(&f, out, 0);
    cr_assert_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), 0, "%s", err);
    tu_limit_file_size(64 << 10); /* the disk fills up after 64 KiB (the weights are larger) */
    cr_expect_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), -1, "a failed write was not reported");
    cr_expect(strstr(err, out) && strstr(err, "model.safetensors") && strstr(err, "File too large"), "%s", err);
    cr_expect(strchr(err, '\n') == NULL);
    f.st.global_step = 3;
    cr_expect_eq(checkpoint_save(&cs, NULL, 0, err, sizeof err), -1);
    snprintf(p, sizeof p, "%s/checkpoint-3", out);
    cr_expect(!exists(p), "a checkpoint was left by a failed save");
    cr_expect_eq(count_temps(out), 0, "a temporary was left");
    tu_limit_file_size((size_t)-1 >> 1);
    TrainState st;
    snprintf(p, sizeof p, "%s/checkpoint-2", out);
    cr_assert_eq(checkpoint_load(p, &f.table, f.params, NULL, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.global_step, 2);
    train_state_free(&st);
    fx_free(&f);
}

/* ---------------------------------------------------------------- corrupted checkpoints */

typedef struct {
    Fx   f;
    char base[1200]; /* a good checkpoint */
    char work[1200]; /* a copy to corrupt */
} Corrupt;

static void corrupt_setup(Corrupt* c, const char* tag) {
    char dir[1024], err[1024];
    tu_tmpdir(dir, sizeof dir, tag);
    fx_init(&c->f, "uni_span_bert_markerV0", 3);
    char out[1100];
    snprintf(out, sizeof out, "%s/out", dir);
    CheckpointSave cs = fx_save_args(&c->f, out, 0);
    cr_assert_eq(checkpoint_save(&cs, c->base, sizeof c->base, err, sizeof err), 0, "%s", err);
    snprintf(c->work, sizeof c->work, "%s/work", dir);
}

/* fresh copy of the good checkpoint, then FILE replaced by (text, len) (len 0 with text NULL: deleted) */
static void corrupt_file(Corrupt* c, const char* file, const void* data, size_t len) {
    char cmd[3000], p[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", c->work, c->base, c->work);
    cr_assert(system(cmd) == 0);
    snprintf(p, sizeof p, "%s/%s", c->work, file);
    if (data) tu_write_file(p, data, len);
    else cr_assert(unlink(p) == 0);
}

static void expect_load_error(Corrupt* c, const char* file, const char* want) {
    char err[2048] = "";
    float* params = calloc(c->f.table.total + 1, sizeof(float));
    Optimizer o;
    cr_assert_eq(optim_init(&o, &c->f.table, optim_hparams_default(), NULL, 0, err, sizeof err), 0);
    TrainState st;
    int rc = checkpoint_load(c->work, &c->f.table, params, &o, &st, err, sizeof err);
    cr_expect_eq(rc, -1, "%s: accepted (want %s)", file, want);
    cr_expect(strstr(err, file) != NULL, "error does not name %s: %s", file, err);
    cr_expect(strstr(err, want) != NULL, "got:  %s\nwant: ...%s...", err, want);
    cr_expect(!strchr(err, '\n'), "not one line: %s", err);
    free(params);
    optim_free(&o);
}

static char* read_text(const char* dir, const char* file, size_t* n) {
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    char* t = tu_read_file(p, n);
    cr_assert(t, "cannot read %s", p);
    return t;
}

/* text of FILE in the good checkpoint with the first `from` replaced by `to` */
static void corrupt_replace(Corrupt* c, const char* file, const char* from, const char* to) {
    size_t n;
    char* t = read_text(c->base, file, &n);
    char* at = strstr(t, from);
    cr_assert(at, "%s has no '%s'", file, from);
    size_t fl = strlen(from), tl = strlen(to);
    char* u = malloc(n - fl + tl + 1);
    memcpy(u, t, (size_t)(at - t));
    memcpy(u + (at - t), to, tl);
    memcpy(u + (at - t) + tl, at + fl, n - (size_t)(at - t) - fl);
    corrupt_file(c, file, u, n - fl + tl);
    free(u);
    free(t);
}

Test(checkpoint, corrupted_json_files) {
    Corrupt c;
    corrupt_setup(&c, "ckpt_json");
    corrupt_file(&c, "trainer_state.json", "{\"global_step\": ", 16);
    expect_load_error(&c, "trainer_state.json", "invalid JSON");
    corrupt_file(&c, "trainer_state.json", "[1]", 3);
    expect_load_error(&c, "trainer_state.json", "expected a JSON object");
    corrupt_replace(&c, "trainer_state.json", "\"global_step\":\t3", "\"global_step\":\t\"x\"");
    expect_load_error(&c, "trainer_state.json", "global_step: expected an integer >= 0, found \"x\"");
    corrupt_replace(&c, "trainer_state.json", "\"global_step\":\t3", "\"global_step\":\t-3");
    expect_load_error(&c, "trainer_state.json", "global_step: expected an integer >= 0");
    corrupt_replace(&c, "trainer_state.json", "\"epoch\":", "\"epoch_\":");
    expect_load_error(&c, "trainer_state.json", "epoch: expected a number >= 0, found nothing (missing)");
    corrupt_replace(&c, "trainer_state.json", "\"loss\":", "\"loss\": \"abc\", \"x\":");
    expect_load_error(&c, "trainer_state.json", "log_history[0].loss: expected a number or null, found \"abc\"");
    corrupt_replace(&c, "trainer_state.json", "\"step\":\t1", "\"step\":\t1.5");
    expect_load_error(&c, "trainer_state.json", "log_history[0].step: expected an integer >= 0, found 1.5");
    corrupt_replace(&c, "trainer_state.json", "\"log_history\":", "\"log_history\": 7, \"y\":");
    expect_load_error(&c, "trainer_state.json", "log_history: expected a list of objects, found 7");
    corrupt_replace(&c, "trainer_state.json", "\"best_metric\":", "\"best_metric\": [], \"z\":");
    expect_load_error(&c, "trainer_state.json", "best_metric: expected a number or null");
    corrupt_file(&c, "trainer_state.json", NULL, 0);
    expect_load_error(&c, "trainer_state.json", "cannot open");

    corrupt_replace(&c, "resume.json", "\"global_step\":\t3", "\"global_step\":\t4");
    expect_load_error(&c, "resume.json", "global_step 4 but trainer_state.json says 3");
    corrupt_replace(&c, "resume.json", "\"format\":\t\"gliner.c-resume\"", "\"format\":\t\"other\"");
    expect_load_error(&c, "resume.json", "format: expected \"gliner.c-resume\", found \"other\"");
    corrupt_replace(&c, "resume.json", "\"rng\":", "\"rng\": [\"1\"], \"r\":");
    expect_load_error(&c, "resume.json", "rng: expected a list of 4 strings of 1 to 16 hex digits");
    corrupt_replace(&c, "resume.json", "\"data_seed\":\t\"", "\"data_seed\":\t\"xyz");
    expect_load_error(&c, "resume.json", "data_seed: expected a string of 1 to 16 hex digits");
    corrupt_replace(&c, "resume.json", "\"position\":\t4097", "\"position\":\tnull");
    expect_load_error(&c, "resume.json", "position: expected an integer >= 0, found null");
    corrupt_file(&c, "resume.json", "", 0);
    expect_load_error(&c, "resume.json", "invalid JSON");
    fx_free(&c.f);
}

Test(checkpoint, corrupted_tensor_files) {
    Corrupt c;
    char err[1024], p[1400];
    corrupt_setup(&c, "ckpt_st");
    size_t n;
    char* t = read_text(c.base, "optimizer.safetensors", &n);
    corrupt_file(&c, "optimizer.safetensors", t, n / 2);
    expect_load_error(&c, "optimizer.safetensors", "optimizer.safetensors");
    free(t);
    t = read_text(c.base, "model.safetensors", &n);
    corrupt_file(&c, "model.safetensors", t, 7);
    expect_load_error(&c, "model.safetensors", "model.safetensors");
    free(t);
    corrupt_file(&c, "model.safetensors", NULL, 0);
    expect_load_error(&c, "model.safetensors", "cannot open");
    corrupt_file(&c, "optimizer.safetensors", NULL, 0);
    expect_load_error(&c, "optimizer.safetensors", "cannot open");

    /* rewritten tensor files: one tensor missing, one extra, a wrong shape, a NaN in exp_avg_sq, a bad step */
    SafeTensors st;
    snprintf(p, sizeof p, "%s/optimizer.safetensors", c.base);
    cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
    StTensorIn* ts = calloc((size_t)st.n + 2, sizeof *ts);
    int64_t bad_shape[2] = {3, 5};
    float* nan_buf = NULL;
    for (int variant = 0; variant < 5; variant++) {
        int k = 0;
        const char* victim = NULL;
        for (int i = 0; i < st.n; i++) {
            const TensorView* tv = &st.tensors[i];
            ts[k] = (StTensorIn){tv->name, tv->dtype, tv->ndim, tv->shape, tv->data};
            int is_v = !strncmp(tv->name, "exp_avg_sq.", 11) && tv->numel > 1;
            if (is_v && !victim) {
                victim = tv->name;
                if (variant == 0) continue; /* dropped */
                if (variant == 2) ts[k].shape = bad_shape, ts[k].ndim = 2, ts[k].data = calloc(15, sizeof(float));
                if (variant == 3) {
                    nan_buf = malloc(tv->nbytes);
                    memcpy(nan_buf, tv->data, tv->nbytes);
                    nan_buf[1] = NAN;
                    ts[k].data = nan_buf;
                }
            }
            if (variant == 4 && !strcmp(tv->name, "step")) {
                static const int64_t minus = -5;
                ts[k].data = &minus;
            }
            k++;
        }
        if (variant == 1) ts[k++] = (StTensorIn){"exp_avg.no.such.param", DTYPE_F32, 1, bad_shape, calloc(3, sizeof(float))};
        char tmp[1400];
        snprintf(tmp, sizeof tmp, "%s.variant", c.base);
        mkdir(tmp, 0755);
        snprintf(p, sizeof p, "%s/optimizer.safetensors", tmp);
        cr_assert_eq(st_write(p, ts, k, NULL, err, sizeof err), 0, "%s", err);
        size_t len = 0;
        char* data = tu_read_file(p, &len);
        corrupt_file(&c, "optimizer.safetensors", data, len);
        free(data);
        char want[600];
        if (variant == 0) snprintf(want, sizeof want, "tensor '%s': missing", victim);
        if (variant == 1) snprintf(want, sizeof want, "tensor 'exp_avg.no.such.param': unexpected");
        if (variant == 2) snprintf(want, sizeof want, "tensor '%s': F32 [3,5], expected F32", victim);
        if (variant == 3) snprintf(want, sizeof want, "tensor '%s': element 1 is nan", victim);
        if (variant == 4) snprintf(want, sizeof want, "tensor 'step': -5, expected >= 0");
        expect_load_error(&c, "optimizer.safetensors", want);
        if (variant == 1) free((void*)ts[k - 1].data);
        if (variant == 2)
            for (int i = 0; i < k; i++)
                if (ts[i].shape == bad_shape) free((void*)ts[i].data);
    }
    free(nan_buf);
    st_close(&st);

    /* model.safetensors without one tensor */
    snprintf(p, sizeof p, "%s/model.safetensors", c.base);
    cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
    int k = 0;
    const char* dropped = NULL;
    for (int i = 0; i < st.n; i++) {
        const TensorView* tv = &st.tensors[i];
        if (!dropped && strstr(tv->name, "span_rep_layer")) { dropped = tv->name; continue; }
        ts[k++] = (StTensorIn){tv->name, tv->dtype, tv->ndim, tv->shape, tv->data};
    }
    char tmp[1400];
    snprintf(tmp, sizeof tmp, "%s.variant/model.safetensors", c.base);
    cr_assert_eq(st_write(tmp, ts, k, NULL, err, sizeof err), 0, "%s", err);
    size_t len = 0;
    char* data = tu_read_file(tmp, &len);
    corrupt_file(&c, "model.safetensors", data, len);
    free(data);
    char want[600];
    snprintf(want, sizeof want, "tensor '%s': missing", dropped);
    expect_load_error(&c, "model.safetensors", want);
    st_close(&st);
    free(ts);

    /* no checkpoint at all */
    cr_expect_eq(checkpoint_resolve(c.work, p, sizeof p, err, sizeof err), 0); /* work is a checkpoint dir */
    char empty[1400];
    snprintf(empty, sizeof empty, "%s.variant", c.base);
    unlink(tmp);
    cr_expect_eq(checkpoint_resolve(empty, p, sizeof p, err, sizeof err), -1);
    cr_expect(strstr(err, "no checkpoint here"), "%s", err);
    fx_free(&c.f);
}
