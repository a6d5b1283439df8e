/* labels.c -- class maps and training label tensors. See labels.h. */
#include "labels.h"

#include <stdlib.h>
#include <string.h>

#include "../check.h"

static char* xstrdup(const char* s) {
    char* p = strdup(s);
    CHECK(p, "out of memory");
    return p;
}

int classmap_find(const ClassMap* cm, const char* label) {
    for (int i = 0; i < cm->n; i++)
        if (!strcmp(cm->names[i], label)) return i + 1;
    return 0;
}

void classmap_init(ClassMap* cm, const char* const* types, int n) {
    cm->n = 0;
    cm->names = calloc((size_t)(n > 0 ? n : 1), sizeof(char*));
    CHECK(cm->names, "out of memory");
    for (int i = 0; i < n; i++)
        if (!classmap_find(cm, types[i])) cm->names[cm->n++] = xstrdup(types[i]);
}

void classmap_free(ClassMap* cm) {
    if (!cm) return;
    for (int i = 0; i < cm->n; i++) free(cm->names[i]);
    free(cm->names);
    cm->names = NULL;
    cm->n = 0;
}

void strset_add(StrSet* s, const char* x) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], x)) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = realloc(s->v, (size_t)s->cap * sizeof(char*));
        CHECK(s->v, "out of memory");
    }
    s->v[s->n++] = x;
}

void labels_shuffle(const char** v, int n, uint64_t* rng) { /* Fisher-Yates, as random.shuffle */
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(train_rng_next(rng) % (uint64_t)(i + 1));
        const char* t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

void classmap_sample_uni(ClassMap* maps, const TrainExample* ex, int B, int max_types, int max_neg_type_ratio,
                         uint64_t* rng) {
    /* get_negatives(batch, sampled_neg=100): every distinct type in the batch, random.sample of up to 100 */
    StrSet all = {0};
    for (int b = 0; b < B; b++)
        for (int i = 0; i < ex[b].n_ner; i++) strset_add(&all, ex[b].ner[i].label);
    labels_shuffle(all.v, all.n, rng);
    int n_negatives = all.n < 100 ? all.n : 100;
    for (int b = 0; b < B; b++) {
        int r = max_neg_type_ratio ? train_rng_int(rng, 0, max_neg_type_ratio) : 0;
        if (ex[b].n_ner_labels >= 0) { /* labels are predefined: used as they are */
            classmap_init(&maps[b], ex[b].ner_labels, ex[b].n_ner_labels);
            continue;
        }
        StrSet types = {0};
        for (int i = 0; i < ex[b].n_ner; i++) strset_add(&types, ex[b].ner[i].label);
        if (ex[b].n_ner_negatives >= 0) {
            for (int i = 0; i < ex[b].n_ner_negatives; i++) strset_add(&types, ex[b].ner_negatives[i]);
        } else if (r) {
            long k = (long)ex[b].n_ner * r;
            for (long i = 0; i < k && i < n_negatives; i++) strset_add(&types, all.v[i]);
        }
        labels_shuffle(types.v, types.n, rng);
        int n = types.n < max_types ? types.n : (max_types > 0 ? max_types : 0);
        classmap_init(&maps[b], types.v, n);
        free(types.v);
    }
    free(all.v);
}

void classmap_sample_bi(ClassMap* maps, const TrainExample* ex, int B, int max_types, uint64_t* rng) {
    StrSet pool = {0};
    for (int b = 0; b < B; b++) {
        if (ex[b].n_ner_label >= 0) {
            for (int i = 0; i < ex[b].n_ner_label; i++) strset_add(&pool, ex[b].ner_label[i]);
        } else {
            for (int i = 0; i < ex[b].n_ner; i++) strset_add(&pool, ex[b].ner[i].label);
            for (int i = 0; i < ex[b].n_ner_negatives; i++) strset_add(&pool, ex[b].ner_negatives[i]);
        }
    }
    labels_shuffle(pool.v, pool.n, rng);
    long cap = (long)max_types * B;
    int n = pool.n < cap ? pool.n : (int)(cap > 0 ? cap : 0);
    for (int b = 0; b < B; b++) classmap_init(&maps[b], pool.v, n);
    free(pool.v);
}

static int is_positive(const TrainExample* ex, const char* label) {
    if (ex->n_ner_labels >= 0) return 1; /* a predefined list: the example's task, never cut */
    for (int i = 0; i < ex->n_ner; i++)
        if (!strcmp(ex->ner[i].label, label)) return 1;
    return 0;
}

int classmap_fit_prompt(ClassMap* cm, const TrainExample* ex, int* tokens, int budget) {
    long total = 0;
    for (int c = 0; c < cm->n; c++) total += tokens[c];
    int dropped = 0;
    for (int c = cm->n - 1; c >= 0 && total > budget; c--) { /* from the end of the prompt */
        if (is_positive(ex, cm->names[c])) continue;
        total -= tokens[c];
        free(cm->names[c]);
        memmove(cm->names + c, cm->names + c + 1, (size_t)(cm->n - c - 1) * sizeof *cm->names);
        memmove(tokens + c, tokens + c + 1, (size_t)(cm->n - c - 1) * sizeof *tokens);
        cm->n--;
        dropped++;
    }
    return total <= budget ? dropped : -1;
}

int train_example_words(const TrainExample* ex, int max_len) {
    int n = ex->n_words > 0 ? ex->n_words : 1;
    return n > max_len ? max_len : n;
}

float* labels_span_build(const TrainExample* ex, const ClassMap* maps, int B, int K, int max_len, int* S_out,
                         int* C_out) {
    int S = 0, C = 0;
    for (int b = 0; b < B; b++) {
        int s = train_example_words(&ex[b], max_len) * K;
        if (s > S) S = s;
        if (maps[b].n > C) C = maps[b].n;
    }
    float* y = calloc((size_t)B * (S ? S : 1) * (C ? C : 1), sizeof(float));
    CHECK(y, "out of memory");
    for (int b = 0; b < B; b++) {
        const int n = train_example_words(&ex[b], max_len);
        for (int i = 0; i < ex[b].n_ner; i++) {
            const TrainSpan* e = &ex[b].ner[i];
            const int64_t w = (int64_t)e->end - e->start;
            /* span_to_index holds (i, i+k) for i < n, k < K; spans past the text are then zeroed */
            if (e->start < 0 || e->start >= n || w < 0 || w >= K || e->end > n - 1) continue;
            const int c = classmap_find(&maps[b], e->label);
            if (!c) continue;
            y[((size_t)b * S + (size_t)e->start * K + (size_t)w) * C + (c - 1)] = 1.0f;
        }
    }
    *S_out = S;
    *C_out = C;
    return y;
}

float* labels_token_build(const TrainExample* ex, const ClassMap* maps, int B, int max_len, int* W_out, int* C_out) {
    int W = 0, C = 0;
    for (int b = 0; b < B; b++) {
        int n = train_example_words(&ex[b], max_len);
        if (n > W) W = n;
        if (maps[b].n > C) C = maps[b].n;
    }
    float* y = calloc((size_t)B * W * (C ? C : 1) * 3, sizeof(float));
    CHECK(y, "out of memory");
    for (int b = 0; b < B; b++)
        for (int i = 0; i < ex[b].n_ner; i++) {
            const TrainSpan* e = &ex[b].ner[i];
            const int c = classmap_find(&maps[b], e->label);
            if (!c) continue;
            if (e->start < 0 || e->end < 0 || e->start >= W || e->end >= W) continue;
            float* row = y + (size_t)b * W * C * 3;
            row[((size_t)e->start * C + (c - 1)) * 3 + 0] = 1.0f;
            row[((size_t)e->end * C + (c - 1)) * 3 + 1] = 1.0f;
            for (int w = e->start; w <= e->end; w++) row[((size_t)w * C + (c - 1)) * 3 + 2] = 1.0f;
        }
    *W_out = W;
    *C_out = C;
    return y;
}

/* _generate_negative_spans: rejection sampling of (start, end) with start ~ U{0..n-1}, width ~ U{1..min(K, n-start)},
   kept when it overlaps no positive span and is new; at most 20 * want attempts */
static int negative_spans(int64_t* out, int want, const int64_t* pos, int n_pos, int n, int K, uint64_t* rng) {
    int got = 0;
    for (int attempts = 0; got < want && attempts < want * 20; attempts++) {
        const int start = train_rng_int(rng, 0, n - 1);
        const int width = train_rng_int(rng, 1, K < n - start ? K : n - start);
        const int end = start + width - 1;
        int bad = 0;
        for (int p = 0; p < n_pos && !bad; p++) bad = !(end < pos[2 * p] || start > pos[2 * p + 1]);
        for (int q = 0; q < got && !bad; q++) bad = out[2 * q] == start && out[2 * q + 1] == end;
        if (bad) continue;
        out[2 * got] = start;
        out[2 * got + 1] = end;
        got++;
    }
    return got;
}

float* labels_token_spans_build(const TrainExample* ex, const ClassMap* maps, int B, int max_len, int K, double neg_ratio,
                                uint64_t* rng, int64_t** idx_out, int64_t** mask_out, int* N_out, int* C_out) {
    int C = 0, N = 1;
    int64_t** idx = calloc((size_t)B, sizeof *idx);
    int** cls = calloc((size_t)B, sizeof *cls);
    int* cnt = calloc((size_t)B, sizeof *cnt);
    CHECK(idx && cls && cnt, "out of memory");
    for (int b = 0; b < B; b++) {
        if (maps[b].n > C) C = maps[b].n;
        const int n = train_example_words(&ex[b], max_len);
        idx[b] = malloc((size_t)(ex[b].n_ner * 2 + 1) * 2 * sizeof(int64_t) + 16 * sizeof(int64_t));
        cls[b] = calloc((size_t)(ex[b].n_ner * 2 + 1) + 8, sizeof(int));
        CHECK(idx[b] && cls[b], "out of memory");
        int k = 0;
        for (int i = 0; i < ex[b].n_ner; i++) { /* positives, in ner order */
            const TrainSpan* e = &ex[b].ner[i];
            const int c = classmap_find(&maps[b], e->label);
            if (!c || e->end >= n) continue;
            idx[b][2 * k] = e->start;
            idx[b][2 * k + 1] = e->end;
            cls[b][k++] = c;
        }
        const int want = (int)((double)k * neg_ratio); /* int(len * ratio) */
        if (want > 0 && n > 0) {
            int64_t* neg = malloc((size_t)want * 2 * sizeof(int64_t));
            CHECK(neg, "out of memory");
            const int got = negative_spans(neg, want, idx[b], k, n, K, rng);
            idx[b] = realloc(idx[b], (size_t)(k + got + 1) * 2 * sizeof(int64_t));
            cls[b] = realloc(cls[b], (size_t)(k + got + 1) * sizeof(int));
            CHECK(idx[b] && cls[b], "out of memory");
            for (int q = 0; q < got; q++) {
                idx[b][2 * (k + q)] = neg[2 * q];
                idx[b][2 * (k + q) + 1] = neg[2 * q + 1];
                cls[b][k + q] = 0; /* a negative */
            }
            k += got;
            free(neg);
        }
        cnt[b] = k;
        if (k > N) N = k;
    }
    int64_t* si = calloc((size_t)B * N * 2, sizeof(int64_t));
    int64_t* sm = calloc((size_t)B * N, sizeof(int64_t));
    float* y = calloc((size_t)B * N * (C ? C : 1), sizeof(float));
    CHECK(si && sm && y, "out of memory");
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < cnt[b]; j++) {
            si[((size_t)b * N + j) * 2] = idx[b][2 * j];
            si[((size_t)b * N + j) * 2 + 1] = idx[b][2 * j + 1];
            sm[(size_t)b * N + j] = 1;
            if (cls[b][j] > 0 && cls[b][j] - 1 < C) y[((size_t)b * N + j) * C + cls[b][j] - 1] = 1.0f;
        }
        free(idx[b]);
        free(cls[b]);
    }
    free(idx);
    free(cls);
    free(cnt);
    *idx_out = si;
    *mask_out = sm;
    *N_out = N;
    *C_out = C;
    return y;
}
