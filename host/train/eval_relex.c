/* eval_relex.c -- entity and relation P/R/F1 of a relex model. See eval_relex.h. */
#include "eval_relex.h"

#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../decode_relex.h"
#include "../gliner_internal.h"
#include "../model/relex.h"

/* ---------------------------------------------------------------- scores */

static int rel_cmp(const void* a, const void* b) {
    const EvalRel *x = a, *y = b;
    const int c = strcmp(x->label, y->label);
    if (c) return c;
    const int32_t u[4] = {x->hs, x->he, x->ts, x->te}, v[4] = {y->hs, y->he, y->ts, y->te};
    for (int i = 0; i < 4; i++)
        if (u[i] != v[i]) return u[i] < v[i] ? -1 : 1;
    return 0;
}

/* sorted, duplicates removed (a Python set per label), malloc'd */
static EvalRel* rel_set(const EvalRel* v, int n, int* n_out) {
    EvalRel* s = malloc((size_t)(n ? n : 1) * sizeof *s);
    CHECK(s, "out of memory");
    if (n) memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, rel_cmp);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!k || rel_cmp(&s[k - 1], &s[i])) s[k++] = s[i];
    *n_out = k;
    return s;
}

void eval_rel_counts_add(EvalCounts* c, const EvalRel* gold, int n_gold, const EvalRel* pred, int n_pred) {
    int ng, np;
    EvalRel* g = rel_set(gold, n_gold, &ng);
    EvalRel* p = rel_set(pred, n_pred, &np);
    for (int i = 0, j = 0; i < ng && j < np;) {
        const int k = rel_cmp(&g[i], &p[j]);
        c->tp += k == 0;
        i += k <= 0;
        j += k >= 0;
    }
    c->n_pred += np;
    c->n_true += ng;
    free(g);
    free(p);
}

/* ---------------------------------------------------------------- data */

static void add_label(char*** v, int* n, const char* s) {
    for (int i = 0; i < *n; i++)
        if ((*v)[i] == s || !strcmp((*v)[i], s)) return;
    *v = realloc(*v, (size_t)(*n + 1) * sizeof **v);
    CHECK(*v, "out of memory");
    (*v)[(*n)++] = (char*)s;
}

int relex_eval_load(RelexEvalData* d, const char* path, char* err, size_t errlen) {
    memset(d, 0, sizeof *d);
    if (train_data_load(&d->data, path, err, errlen)) return -1;
    if (!d->data.n) {
        train_data_free(&d->data);
        return gl_set_err(err, errlen, "%s: no evaluation records", path);
    }
    for (size_t r = 0; r < d->data.n; r++) {
        const TrainExample* e = &d->data.ex[r];
        for (int i = 0; i < e->n_ner; i++) add_label(&d->ent_labels, &d->n_ent_labels, e->ner[i].label);
        for (int i = 0; i < e->n_relations; i++) add_label(&d->rel_labels, &d->n_rel_labels, e->relations[i].label);
    }
    if (!d->n_ent_labels) {
        relex_eval_free(d);
        return gl_set_err(err, errlen, "%s: no entity in any evaluation record (nothing to score)", path);
    }
    return 0;
}

void relex_eval_free(RelexEvalData* d) {
    train_data_free(&d->data);
    free(d->ent_labels);
    free(d->rel_labels);
    memset(d, 0, sizeof *d);
}

/* ---------------------------------------------------------------- the run */

int relex_evaluate(struct GlinerHandle* g, const RelexEvalData* d, size_t n, int batch, float threshold, int flat_ner,
                   EvalScores* ent, EvalScores* rel, char* err, size_t errlen) {
    const GlinerConfig* cfg = &g->model.cfg;
    if (n > d->data.n) n = d->data.n;
    EvalCounts ce = {0}, cr = {0};
    const DecodeOpts dopt = {threshold, flat_ner, 0};
    EntityList el = {0};
    RelationList rl = {0};
    EvalSpan *pe = NULL, *ge = NULL;
    EvalRel *pr = NULL, *gr = NULL;
    int cap = 0;
    int rc = 0;
    BatchItem* items = calloc((size_t)(batch > 0 ? batch : 1), sizeof *items);
    CHECK(items, "out of memory");
    for (size_t s = 0; s < n && !rc; s += (size_t)batch) {
        const int k = (int)(n - s < (size_t)batch ? n - s : (size_t)batch);
        for (int i = 0; i < k; i++) {
            const TrainExample* e = &d->data.ex[s + i];
            items[i] = (BatchItem){.words = e->words, .n_words = e->n_words,
                                   .labels = (const char* const*)d->ent_labels, .n_labels = d->n_ent_labels,
                                   .relations = (const char* const*)d->rel_labels, .n_relations = d->n_rel_labels,
                                   .index = (int)(s + i)};
        }
        Batch b;
        if (batch_build(&b, g->tok, cfg, items, k, g->model_max_length, err, errlen)) {
            rc = -1;
            break;
        }
        ModelInputs in;
        int64_t* sm = gliner_batch_inputs(&b, cfg, &in);
        in.threshold = threshold;
        in.adjacency_threshold = threshold;
        ModelOutputs mo;
        if (gliner_forward(&g->model, &in, &mo, NULL, err, errlen)) rc = -1;
        for (int i = 0; i < k && !rc; i++) {
            const TrainExample* e = &d->data.ex[s + i];
            const int nw = b.words[i].n, C = mo.C;
            if (arch_is_token(cfg->arch)) decode_token_logits(&el, mo.logits + (size_t)i * b.W * C * 3, b.W, C, nw, b.n_labels[i], dopt);
            else decode_span_logits(&el, mo.logits + (size_t)i * b.W * b.K * C, b.W, b.K, C, nw, b.n_labels[i], dopt);
            decode_relations(&rl, &el, mo.entity_spans + (size_t)i * mo.E * 2, mo.E, mo.rel_idx + (size_t)i * mo.P * 2,
                             mo.rel_mask + (size_t)i * mo.P, mo.rel_logits + (size_t)i * mo.P * mo.R, mo.P, mo.R,
                             b.n_relations[i], threshold);
            const int need = el.n > rl.n ? el.n : rl.n;
            const int need_g = e->n_ner > e->n_relations ? e->n_ner : e->n_relations;
            if (need > cap || need_g > cap) {
                cap = 2 * (need > need_g ? need : need_g);
                pe = realloc(pe, (size_t)cap * sizeof *pe);
                ge = realloc(ge, (size_t)cap * sizeof *ge);
                pr = realloc(pr, (size_t)cap * sizeof *pr);
                gr = realloc(gr, (size_t)cap * sizeof *gr);
                CHECK(pe && ge && pr && gr, "out of memory");
            }
            for (int q = 0; q < el.n; q++) pe[q] = (EvalSpan){el.e[q].start, el.e[q].end, b.labels[i][el.e[q].label]};
            for (int q = 0; q < e->n_ner; q++) ge[q] = (EvalSpan){e->ner[q].start, e->ner[q].end, e->ner[q].label};
            eval_counts_add(&ce, ge, e->n_ner, pe, el.n);
            for (int q = 0; q < rl.n; q++) {
                const Entity *h = &el.e[rl.r[q].head], *t = &el.e[rl.r[q].tail];
                pr[q] = (EvalRel){h->start, h->end, t->start, t->end, b.relations[i][rl.r[q].label]};
            }
            const int n_gr = e->n_relations > 0 ? e->n_relations : 0;
            for (int q = 0; q < n_gr; q++) {
                const TrainSpan *h = &e->ner[e->relations[q].start], *t = &e->ner[e->relations[q].end];
                gr[q] = (EvalRel){h->start, h->end, t->start, t->end, e->relations[q].label};
            }
            eval_rel_counts_add(&cr, gr, n_gr, pr, rl.n);
        }
        if (!rc) {
            free(mo.logits);
            relex_outputs_free(&mo);
        }
        free(sm);
        batch_free(&b);
    }
    entity_list_free(&el);
    relation_list_free(&rl);
    free(pe);
    free(ge);
    free(pr);
    free(gr);
    free(items);
    *ent = eval_scores(&ce);
    *rel = eval_scores(&cr);
    return rc;
}
