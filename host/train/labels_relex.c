/* labels_relex.c -- relex training targets. See labels_relex.h. */
#include "labels_relex.h"

#include <stdlib.h>
#include <string.h>

#include "../check.h"

#define OTHER "other" /* augment_example's other_keyword */

/* random.random() / random.uniform(a, b) with the training RNG (53 random bits) */
static double rng_double(uint64_t* rng) { return (double)(train_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_uniform(uint64_t* rng, double a, double b) { return a + (b - a) * rng_double(rng); }

static int in_list(const char* const* v, int n, const char* x) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], x)) return 1;
    return 0;
}

/* ---------------------------------------------------------------- augmentation (§7.8) */

void relex_example_init(RelexExample* rx, const TrainExample* ex, const RelexAugment* aug, uint64_t* rng) {
    memset(rx, 0, sizeof *rx);
    rx->ex = *ex;
    if (!(aug->data_prob > 0) || !(rng_double(rng) < aug->data_prob) || ex->n_ner <= 0) return;
    const int n_rel = ex->n_relations > 0 ? ex->n_relations : 0;
    const double pe = rng_uniform(rng, aug->ent_drop[0], aug->ent_drop[1]);
    const double pr = rng_uniform(rng, aug->rel_drop[0], aug->rel_drop[1]);
    const int add_other = rng_double(rng) < aug->add_other_prob;
    StrSet et = {0}, rt = {0};
    for (int i = 0; i < ex->n_ner; i++) strset_add(&et, ex->ner[i].label);
    for (int i = 0; i < n_rel; i++) strset_add(&rt, ex->relations[i].label);
    rx->dropped_ent = malloc((size_t)(et.n + 1) * sizeof(char*));
    rx->dropped_rel = malloc((size_t)(rt.n + 1) * sizeof(char*));
    CHECK(rx->dropped_ent && rx->dropped_rel, "out of memory");
    for (int i = 0; i < et.n; i++)
        if (strcmp(et.v[i], OTHER) && rng_double(rng) < pe) rx->dropped_ent[rx->n_dropped_ent++] = et.v[i];
    for (int i = 0; i < rt.n; i++)
        if (rng_double(rng) < pr) rx->dropped_rel[rx->n_dropped_rel++] = rt.v[i];
    free(et.v);
    free(rt.v);
    if (!rx->n_dropped_ent && !rx->n_dropped_rel) return; /* the record as it is */

    /* entities in a relation whose type is kept */
    char* active = calloc((size_t)ex->n_ner, 1);
    int* remap = malloc((size_t)ex->n_ner * sizeof(int));
    rx->own_ner = malloc((size_t)ex->n_ner * sizeof(TrainSpan));
    rx->own_rel = malloc((size_t)(n_rel ? n_rel : 1) * sizeof(TrainSpan));
    CHECK(active && remap && rx->own_ner && rx->own_rel, "out of memory");
    for (int i = 0; i < n_rel; i++)
        if (!in_list(rx->dropped_rel, rx->n_dropped_rel, ex->relations[i].label))
            active[ex->relations[i].start] = active[ex->relations[i].end] = 1;
    int n = 0;
    for (int i = 0; i < ex->n_ner; i++) {
        const int dropped = in_list(rx->dropped_ent, rx->n_dropped_ent, ex->ner[i].label);
        remap[i] = -1;
        if (dropped && (!active[i] || !add_other)) continue;
        remap[i] = n;
        rx->own_ner[n] = ex->ner[i];
        if (dropped) rx->own_ner[n].label = OTHER;
        n++;
    }
    int m = 0;
    for (int i = 0; i < n_rel; i++) {
        const TrainSpan* r = &ex->relations[i];
        if (in_list(rx->dropped_rel, rx->n_dropped_rel, r->label) || remap[r->start] < 0 || remap[r->end] < 0) continue;
        rx->own_rel[m++] = (TrainSpan){remap[r->start], remap[r->end], r->label};
    }
    rx->ex.ner = rx->own_ner;
    rx->ex.n_ner = n;
    rx->ex.relations = rx->own_rel;
    rx->ex.n_relations = m;
    free(active);
    free(remap);
}

void relex_example_free(RelexExample* rx) {
    free(rx->own_ner);
    free(rx->own_rel);
    free(rx->dropped_ent);
    free(rx->dropped_rel);
    memset(rx, 0, sizeof *rx);
}

/* ---------------------------------------------------------------- class maps (§2.9, relex) */

/* types = shuffle(distinct(gold types not dropped + negatives))[:max_types] */
static void sample_map(ClassMap* cm, const TrainSpan* gold, int n_gold, const char* const* dropped, int n_dropped,
                       const char* const* negs, long n_negs, int max_types, uint64_t* rng) {
    StrSet types = {0};
    for (int i = 0; i < n_gold; i++)
        if (!in_list(dropped, n_dropped, gold[i].label)) strset_add(&types, gold[i].label);
    for (long i = 0; i < n_negs; i++) strset_add(&types, negs[i]);
    labels_shuffle(types.v, types.n, rng);
    classmap_init(cm, types.v, types.n < max_types ? types.n : (max_types > 0 ? max_types : 0));
    free(types.v);
}

/* get_negatives(batch, sampled_neg=100, key): the batch's distinct types in random order, at most 100 */
static int batch_negatives(StrSet* all, const TrainExample* const* ex, int B, int relations, uint64_t* rng) {
    for (int b = 0; b < B; b++) {
        const int n = relations ? ex[b]->n_relations : ex[b]->n_ner;
        const TrainSpan* s = relations ? ex[b]->relations : ex[b]->ner;
        for (int i = 0; i < n; i++) strset_add(all, s[i].label);
    }
    labels_shuffle(all->v, all->n, rng);
    return all->n < 100 ? all->n : 100;
}

void classmap_sample_relex(ClassMap* ent, ClassMap* rel, const RelexExample* rx, const TrainExample* const* orig, int B,
                           int max_types, int max_neg_type_ratio, uint64_t* rng) {
    const TrainExample** aug = malloc((size_t)(B ? B : 1) * sizeof *aug);
    CHECK(aug, "out of memory");
    for (int b = 0; b < B; b++) aug[b] = &rx[b].ex;
    StrSet ent_all = {0}, rel_all = {0};
    const int n_ent_neg = batch_negatives(&ent_all, orig, B, 0, rng);
    const int n_rel_neg = batch_negatives(&rel_all, aug, B, 1, rng);
    for (int b = 0; b < B; b++) {
        const TrainExample* e = &rx[b].ex;
        const int r = max_neg_type_ratio ? train_rng_int(rng, 0, max_neg_type_ratio) : 0;
        if (e->n_ner_labels >= 0) {
            classmap_init(&ent[b], e->ner_labels, e->n_ner_labels);
        } else {
            const long k = e->n_ner_negatives >= 0 ? e->n_ner_negatives : (long)e->n_ner * r;
            sample_map(&ent[b], e->ner, e->n_ner, rx[b].dropped_ent, rx[b].n_dropped_ent,
                       e->n_ner_negatives >= 0 ? e->ner_negatives : ent_all.v, k < n_ent_neg || e->n_ner_negatives >= 0 ? k : n_ent_neg,
                       max_types, rng);
        }
        const int n_rel = e->n_relations > 0 ? e->n_relations : 0;
        if (e->n_rel_labels >= 0) {
            classmap_init(&rel[b], e->rel_labels, e->n_rel_labels);
        } else {
            const long k = e->n_rel_negatives >= 0 ? e->n_rel_negatives : (long)n_rel * r;
            sample_map(&rel[b], e->relations, n_rel, rx[b].dropped_rel, rx[b].n_dropped_rel,
                       e->n_rel_negatives >= 0 ? e->rel_negatives : rel_all.v, k < n_rel_neg || e->n_rel_negatives >= 0 ? k : n_rel_neg,
                       max_types, rng);
        }
    }
    free(ent_all.v);
    free(rel_all.v);
    free(aug);
}

/* ---------------------------------------------------------------- targets (§7.7) */

typedef struct {
    int32_t h, t, cls;
} Rel;

static const TrainSpan* g_sort_ner; /* qsort's context: the record's entities */
static int cmp_ent(const void* a, const void* b) { /* sorted((start, end)), stable by index */
    const int i = *(const int*)a, j = *(const int*)b;
    const TrainSpan *x = &g_sort_ner[i], *y = &g_sort_ner[j];
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return i < j ? -1 : i > j;
}

static int cmp_pair(const void* a, const void* b) { /* (h, t) lexicographic; ties keep their order (index in cls) */
    const Rel *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return 0;
}

/* the record's positives as (compact h, compact t, class id), in the sorted relation order; *n_ents_out: the
   entities that got an index (token models: the gold spans, written to spans) */
static Rel* record_relations(const TrainExample* e, const ClassMap* ent, const ClassMap* rel, int K, int n_words,
                             int token, int64_t* spans, int* n_rels, int* n_ents_out) {
    const int n = e->n_ner;
    int* order = malloc((size_t)(n ? n : 1) * sizeof(int));
    int* rank = malloc((size_t)(n ? n : 1) * sizeof(int));    /* original index -> sorted position */
    int* compact = malloc((size_t)(n ? n : 1) * sizeof(int)); /* sorted position -> compact index or -1 */
    const int n_rel = e->n_relations > 0 ? e->n_relations : 0;
    Rel* out = malloc((size_t)(n_rel ? n_rel : 1) * sizeof(Rel));
    CHECK(order && rank && compact && out, "out of memory");
    for (int i = 0; i < n; i++) order[i] = i;
    g_sort_ner = e->ner;
    qsort(order, (size_t)n, sizeof(int), cmp_ent);
    int k = 0;
    for (int p = 0; p < n; p++) {
        const TrainSpan* s = &e->ner[order[p]];
        rank[order[p]] = p;
        const int ok = token ? classmap_find(ent, s->label) && s->end < n_words
                             : s->start < n_words && s->end - s->start < K && s->end < n_words;
        compact[p] = ok ? k : -1;
        if (ok && spans) spans[2 * k] = s->start, spans[2 * k + 1] = s->end;
        k += ok;
    }
    /* relations remapped to sorted positions, sorted by (head, tail) (stable), then the known ones kept */
    Rel* srt = malloc((size_t)(n_rel ? n_rel : 1) * sizeof(Rel));
    CHECK(srt, "out of memory");
    for (int i = 0; i < n_rel; i++) srt[i] = (Rel){rank[e->relations[i].start], rank[e->relations[i].end], i};
    for (int i = 1; i < n_rel; i++) /* insertion sort: stable, and records hold few relations */
        for (int j = i; j > 0 && cmp_pair(&srt[j - 1], &srt[j]) > 0; j--) {
            const Rel t = srt[j];
            srt[j] = srt[j - 1];
            srt[j - 1] = t;
        }
    int m = 0;
    for (int i = 0; i < n_rel; i++) {
        const int c = classmap_find(rel, e->relations[srt[i].cls].label);
        const int h = compact[srt[i].h], t = compact[srt[i].t];
        if (h >= 0 && t >= 0 && c) out[m++] = (Rel){h, t, c};
    }
    free(srt);
    free(order);
    free(rank);
    free(compact);
    *n_rels = m;
    *n_ents_out = k;
    return out;
}

typedef struct {
    int32_t h, t;
} Pair;

static int pair_find(const Pair* v, int n, int h, int t) {
    for (int i = 0; i < n; i++)
        if (v[i].h == h && v[i].t == t) return i;
    return -1;
}

static int cmp_pair2(const void* a, const void* b) {
    const Pair *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* create_relation_labels' pairs of one record: the positives (h, t < N), the reversed positives, random pairs
   up to max(1, int(#pos * rho)); sorted. *n_pos_out: the positives among them */
static Pair* record_pairs(const Rel* r, int n_r, int N, uint64_t* rng, int* n_out, int* n_pos_out) {
    Pair* pos = malloc((size_t)(n_r ? n_r : 1) * sizeof(Pair));
    CHECK(pos, "out of memory");
    int np = 0;
    for (int i = 0; i < n_r; i++)
        if (r[i].h < N && r[i].t < N && pair_find(pos, np, r[i].h, r[i].t) < 0) pos[np++] = (Pair){r[i].h, r[i].t};
    const double rho = rng_uniform(rng, 1.0, 10.0);
    const long target = (long)((double)np * rho) > 1 ? (long)((double)np * rho) : 1;
    const long cap = np + np + (N > 1 ? target : 0) + 1;
    Pair* all = malloc((size_t)cap * sizeof(Pair));
    CHECK(all, "out of memory");
    memcpy(all, pos, (size_t)np * sizeof(Pair));
    int n = np;
    for (int i = 0; i < np; i++) /* reversed positives that are not positives themselves */
        if (pair_find(pos, np, pos[i].t, pos[i].h) < 0 && pair_find(all + np, n - np, pos[i].t, pos[i].h) < 0)
            all[n++] = (Pair){pos[i].t, pos[i].h};
    if (N > 1 && n - np < target) {
        for (long attempts = 0; n - np < target && attempts < target * 10; attempts++) {
            const int h = train_rng_int(rng, 0, N - 1), t = train_rng_int(rng, 0, N - 1);
            if (h == t || pair_find(all, n, h, t) >= 0) continue;
            all[n++] = (Pair){h, t};
        }
    }
    qsort(all, (size_t)n, sizeof(Pair), cmp_pair2);
    free(pos);
    *n_out = n;
    *n_pos_out = np;
    return all;
}

void relex_targets_build(RelexTargets* t, const RelexExample* rx, const ClassMap* ent, const ClassMap* rel, int B,
                         int K, int max_len, int token, int single_step, const float* span_labels, int S, int C,
                         uint64_t* rng) {
    memset(t, 0, sizeof *t);
    int* nb = calloc((size_t)B, sizeof(int));   /* N_b */
    int* nr = calloc((size_t)B, sizeof(int));   /* positives per record */
    Rel** rels = calloc((size_t)B, sizeof(Rel*));
    int64_t** spans = calloc((size_t)B, sizeof(int64_t*));
    CHECK(nb && nr && rels && spans, "out of memory");
    int R = 0;
    t->Ns = 1;
    for (int b = 0; b < B; b++) {
        const TrainExample* e = &rx[b].ex;
        const int n = train_example_words(e, max_len);
        if (rel[b].n > R) R = rel[b].n;
        if (token) {
            spans[b] = malloc((size_t)(e->n_ner ? e->n_ner : 1) * 2 * sizeof(int64_t));
            CHECK(spans[b], "out of memory");
        }
        int n_ents;
        rels[b] = record_relations(e, &ent[b], &rel[b], K, n, token, spans[b], &nr[b], &n_ents);
        if (token) {
            nb[b] = n_ents;
        } else { /* the candidate spans with a positive label: the rows the training forward keeps */
            for (int j = 0; j < S; j++) {
                const float* row = span_labels + ((size_t)b * S + j) * (C ? C : 1);
                int any = 0;
                for (int c = 0; c < C && !any; c++) any = row[c] == 1.0f;
                nb[b] += any;
            }
        }
        if (nb[b] > t->N) t->N = nb[b];
        if (n_ents > t->Ns) t->Ns = n_ents;
    }
    if (t->N < 1) t->N = 1;
    const int N = t->N;
    if (token) { /* the gold spans, padded with (0, 0) / mask 0 */
        t->span_idx = calloc((size_t)B * t->Ns * 2, sizeof(int64_t));
        t->span_mask = calloc((size_t)B * t->Ns, sizeof(int64_t));
        CHECK(t->span_idx && t->span_mask, "out of memory");
        for (int b = 0; b < B; b++) {
            memcpy(t->span_idx + (size_t)b * t->Ns * 2, spans[b], (size_t)nb[b] * 2 * sizeof(int64_t));
            for (int j = 0; j < nb[b]; j++) t->span_mask[(size_t)b * t->Ns + j] = 1;
        }
    }
    if (!single_step) {
        t->adj = calloc((size_t)B * N * N, sizeof(float));
        CHECK(t->adj, "out of memory");
    }
    if (R == 0) { /* no relation classes in the batch: zero targets (B, 1, 1) */
        t->P = t->R = 1;
        t->rel = calloc((size_t)B, sizeof(float));
        CHECK(t->rel, "out of memory");
    } else if (single_step) { /* every ordered pair (i, j), i != j, i, j < N_b, row-major */
        int P = 1;
        for (int b = 0; b < B; b++) P = nb[b] * (nb[b] - 1) > P ? nb[b] * (nb[b] - 1) : P;
        t->P = P, t->R = R;
        t->rel = calloc((size_t)(unsigned)B * (unsigned)P * (unsigned)R, sizeof(float));
        CHECK(t->rel, "out of memory");
        for (int b = 0; b < B; b++)
            for (int k = 0; k < nr[b]; k++) {
                const Rel* r = &rels[b][k];
                if (r->h == r->t || r->h >= nb[b] || r->t >= nb[b]) continue;
                const int p = r->h * (nb[b] - 1) + (r->t < r->h ? r->t : r->t - 1);
                t->rel[((size_t)b * P + p) * R + r->cls - 1] = 1.0f;
                t->n_pos++;
            }
    } else {
        Pair** pairs = calloc((size_t)B, sizeof(Pair*));
        int* npairs = calloc((size_t)B, sizeof(int));
        CHECK(pairs && npairs, "out of memory");
        int P = 1;
        for (int b = 0; b < B; b++) {
            int np;
            pairs[b] = record_pairs(rels[b], nr[b], nb[b], rng, &npairs[b], &np);
            t->n_pos += np;
            if (npairs[b] > P) P = npairs[b];
        }
        t->P = P, t->R = R;
        t->rel = calloc((size_t)(unsigned)B * (unsigned)P * (unsigned)R, sizeof(float));
        CHECK(t->rel, "out of memory");
        for (int b = 0; b < B; b++) {
            for (int p = 0; p < npairs[b]; p++) {
                const Pair q = pairs[b][p];
                t->adj[((size_t)b * N + q.h) * N + q.t] = 1.0f;
                for (int k = 0; k < nr[b]; k++) /* every class of a positive pair */
                    if (rels[b][k].h == q.h && rels[b][k].t == q.t)
                        t->rel[((size_t)b * P + p) * R + rels[b][k].cls - 1] = 1.0f;
            }
            free(pairs[b]);
        }
        free(pairs);
        free(npairs);
    }
    for (int b = 0; b < B; b++) {
        free(rels[b]);
        free(spans[b]);
    }
    free(rels);
    free(spans);
    free(nb);
    free(nr);
}

void relex_targets_free(RelexTargets* t) {
    free(t->adj);
    free(t->rel);
    free(t->span_idx);
    free(t->span_mask);
    memset(t, 0, sizeof *t);
}
