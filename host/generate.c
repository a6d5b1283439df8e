/* generate.c -- see generate.h. The decoder runs on the model's base backend (causal_lm.c); the logits of each step
   come to the host, where the processors, the choice of tokens and the beams' bookkeeping run in float32 as torch
   computes them (log_softmax, + running scores, / length). */
#include "generate.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/causal_lm.h"

/* ---------------------------------------------------------------- the labels trie */

void labels_trie_init(LabelsTrie* t) {
    memset(t, 0, sizeof *t);
    labels_trie_add(t, NULL, 0); /* the root */
}

static int trie_node(LabelsTrie* t, int32_t key) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->key = realloc(t->key, (size_t)t->cap * sizeof *t->key);
        t->first = realloc(t->first, (size_t)t->cap * sizeof *t->first);
        t->next = realloc(t->next, (size_t)t->cap * sizeof *t->next);
        CHECK(t->key && t->first && t->next, "out of memory");
    }
    t->key[t->n] = key;
    t->first[t->n] = t->next[t->n] = -1;
    return t->n++;
}

static int trie_child(const LabelsTrie* t, int node, int32_t key) {
    for (int c = t->first[node]; c >= 0; c = t->next[c])
        if (t->key[c] == key) return c;
    return -1;
}

void labels_trie_add(LabelsTrie* t, const int32_t* ids, int n) {
    if (t->n == 0) trie_node(t, 0);
    int cur = 0;
    for (int i = 0; i < n; i++) {
        int c = trie_child(t, cur, ids[i]);
        if (c < 0) { /* appended after the last child: insertion order */
            c = trie_node(t, ids[i]);
            int* link = &t->first[cur];
            while (*link >= 0) link = &t->next[*link];
            *link = c;
        }
        cur = c;
    }
}

int labels_trie_next(const LabelsTrie* t, const int32_t* prefix, int n, int32_t* out, int cap) {
    int cur = 0;
    for (int i = 0; i < n && cur >= 0; i++) cur = trie_child(t, cur, prefix[i]);
    int k = 0;
    for (int c = cur >= 0 ? t->first[cur] : -1; c >= 0 && k < cap; c = t->next[c]) out[k++] = t->key[c];
    return k;
}

void labels_trie_free(LabelsTrie* t) {
    free(t->key);
    free(t->first);
    free(t->next);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- processors */

/* prefix_allowed_tokens (the trie's children of the sequence so far, or [eos]) as the PrefixConstrainedLogitsProcessor
   applies it, then NumericalStabilityProcessor, in place on one row of V scores. allow: V bytes of scratch. */
static void process_row(float* s, int V, const GenOptions* o, const int32_t* seq, int len, uint8_t* allow) {
    if (o->trie) {
        int32_t nxt[4096];
        int k = labels_trie_next(o->trie, seq, len, nxt, 4096);
        if (k == 0 && o->eos >= 0) nxt[k++] = o->eos;
        if (k > 0) { /* scores + mask: -inf off the allowed tokens */
            memset(allow, 0, (size_t)V);
            for (int i = 0; i < k; i++)
                if (nxt[i] >= 0 && nxt[i] < V) allow[nxt[i]] = 1;
            for (int v = 0; v < V; v++)
                if (!allow[v]) s[v] = -INFINITY;
        }
    }
    for (int v = 0; v < V; v++) { /* where(isneginf, finfo.min), clamp(-1e9, 1e9), + 1e-6, all in float32 */
        float x = s[v];
        if (isinf(x) && x < 0) x = -FLT_MAX;
        x = x < -1e9f ? -1e9f : x > 1e9f ? 1e9f : x;
        s[v] = x + 1e-6f;
    }
}

/* log_softmax over V in float32 (the sum in double) */
static void log_softmax_row(float* s, int V) {
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) mx = s[v] > mx ? s[v] : mx;
    double sum = 0.0;
    for (int v = 0; v < V; v++) sum += exp((double)s[v] - mx);
    const float lse = (float)log(sum);
    for (int v = 0; v < V; v++) s[v] = (s[v] - mx) - lse;
}

/* the k-th largest of x[0..n) (1-based k; x is reordered): quickselect */
static float kth_largest(float* x, int n, int k) {
    int lo = 0, hi = n - 1;
    const int want = k - 1;
    while (lo < hi) {
        const float p = x[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (x[i] > p) i++;
            while (x[j] < p) j--;
            if (i <= j) { const float t = x[i]; x[i] = x[j]; x[j] = t; i++; j--; }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break;
    }
    return x[want];
}

/* TemperatureLogitsWarper then TopKLogitsWarper(top_k, min_keep): scores below the k-th largest become -inf */
static void warp_row(float* s, int V, const GenOptions* o, int min_keep, float* scratch) {
    if (o->temperature != 1.0f)
        for (int v = 0; v < V; v++) s[v] = s[v] / o->temperature;
    int k = o->top_k > min_keep ? o->top_k : min_keep;
    if (o->top_k <= 0 || k >= V) return;
    memcpy(scratch, s, (size_t)V * sizeof(float));
    const float kth = kth_largest(scratch, V, k);
    for (int v = 0; v < V; v++)
        if (s[v] < kth) s[v] = -INFINITY;
}

/* the RNG of sampling: one uniform [0, 1) per (seed, row, step, draw) (splitmix64 over the mixed counter) */
static double uniform_at(uint64_t seed, uint64_t row, uint64_t step, uint64_t draw) {
    uint64_t z = seed ^ (row * 0x9e3779b97f4a7c15ull) ^ (step * 0xc2b2ae3d27d4eb4full) ^ (draw * 0x165667b19e3779f9ull);
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* softmax(s) then one draw by inverse CDF; excluded entries (NULL: none) are skipped, as multinomial without
   replacement renormalises over what is left */
static int draw_row(const float* s, int n, double u, const uint8_t* excluded) {
    float mx = -INFINITY;
    for (int v = 0; v < n; v++)
        if (!(excluded && excluded[v]) && s[v] > mx) mx = s[v];
    double tot = 0.0;
    for (int v = 0; v < n; v++)
        if (!(excluded && excluded[v])) tot += exp((double)s[v] - mx);
    double acc = 0.0, target = u * tot;
    int last = -1;
    for (int v = 0; v < n; v++) {
        if (excluded && excluded[v]) continue;
        const double p = exp((double)s[v] - mx);
        if (p <= 0.0) continue;
        last = v;
        acc += p;
        if (acc > target) return v;
    }
    return last >= 0 ? last : 0;
}

/* ---------------------------------------------------------------- the decoder over a chunk of rows */

typedef struct {
    const GlinerModel* m;
    const GenOptions*  o;
    int V, Dd, L0;
    KVCache  c;
    float*   logits; /* (slots, V) host */
    void*    d_logits;
    void*    d_x;    /* (slots, Dd) the next tokens' embeddings */
} Run;

/* one decoder step: the tokens tok[i] of n sequences (cache rows slot[i]) at position past -> run->logits rows i */
static void step(Run* r, const int32_t* tok, const int64_t* slot, int n, int past) {
    const Backend* be = r->m->base;
    int64_t* ids = malloc((size_t)n * sizeof *ids);
    CHECK(ids, "out of memory");
    for (int i = 0; i < n; i++) ids[i] = tok[i];
    causal_lm_embed(r->m, be, r->d_x, ids, n);
    free(ids);
    causal_lm_forward(r->m, r->d_logits, NULL, r->d_x, n, 1, past, slot, &r->c);
    be->download(be, r->logits, r->d_logits, (size_t)n * r->V);
}

/* greedy or sampled, n = 1: rows [r0, r0 + nr) */
static void run_single(Run* r, const void* prefix, int r0, int nr, int32_t** out, int* lens, float* scores) {
    const GenOptions* o = r->o;
    const int V = r->V, L0 = r->L0, Tn = o->max_new_tokens;
    const Backend* be = r->m->base;
    int64_t* slot = malloc((size_t)nr * sizeof *slot);
    int* act = malloc((size_t)nr * sizeof *act); /* active rows (chunk-local) */
    int32_t* tok = malloc((size_t)nr * sizeof *tok);
    uint8_t* allow = malloc((size_t)V);
    float* scratch = malloc((size_t)V * sizeof(float));
    CHECK(slot && act && tok && allow && scratch, "out of memory");
    for (int i = 0; i < nr; i++) {
        slot[i] = i, act[i] = i;
        out[r0 + i] = malloc((size_t)(Tn ? Tn : 1) * sizeof(int32_t));
        CHECK(out[r0 + i], "out of memory");
        lens[r0 + i] = 0;
        if (scores) scores[r0 + i] = 0.0f;
    }
    const size_t es = dtype_size(be->dtype);
    causal_lm_forward(r->m, r->d_logits, NULL, (const char*)prefix + (size_t)r0 * L0 * r->Dd * es, nr, L0, 0, slot, &r->c);
    be->download(be, r->logits, r->d_logits, (size_t)nr * V);
    int na = nr;
    for (int s = 0; s < Tn && na > 0; s++) {
        int kept = 0;
        for (int a = 0; a < na; a++) {
            const int i = act[a];
            float* sc = r->logits + (size_t)a * V;
            if (o->on_logits) o->on_logits(o->on_logits_ctx, s, r0 + i, 0, sc, V);
            process_row(sc, V, o, out[r0 + i], lens[r0 + i], allow);
            int t = 0;
            if (o->sample) {
                warp_row(sc, V, o, 1, scratch);
                t = draw_row(sc, V, uniform_at(o->seed, (uint64_t)(r0 + i), (uint64_t)s, 0), NULL);
            } else
                for (int v = 1; v < V; v++) t = sc[v] > sc[t] ? v : t; /* argmax: the first of equal maxima */
            out[r0 + i][lens[r0 + i]++] = t;
            if (t != o->eos) { act[kept] = i; tok[kept] = t; slot[kept] = i; kept++; }
        }
        na = kept;
        if (na > 0 && s + 1 < Tn) step(r, tok, slot, na, L0 + s);
    }
    free(slot); free(act); free(tok); free(allow); free(scratch);
}

/* one row's beams (HF _beam_search, batch item by batch item: the items only meet in the loop's stop condition,
   which does not change what an item returns) */
typedef struct {
    int32_t* run_seq;  /* (n, Tn) */
    float*   run_sc;   /* (n) */
    int32_t* fin_seq;  /* (n, Tn) */
    int*     fin_len;  /* (n) */
    float*   fin_sc;   /* (n) */
    uint8_t* fin;      /* (n) */
    int      unsat;    /* is_early_stop_heuristic_unsatisfied */
    int      done;
} Beams;

typedef struct { float s; int idx; } Cand;

/* the k best of x[0..n) (descending; equal scores: the lower index first) */
static void top_k(const float* x, int n, int k, Cand* best) {
    int have = 0;
    for (int i = 0; i < n; i++) {
        const float v = x[i];
        if (have == k && !(v > best[k - 1].s)) continue;
        int p = have < k ? have++ : k - 1;
        while (p > 0 && v > best[p - 1].s) { best[p] = best[p - 1]; p--; }
        best[p] = (Cand){v, i};
    }
}

/* beam search (or beam sampling) over rows [r0, r0 + nr), n beams each in cache rows (row * n + beam) */
static void run_beams(Run* r, const void* prefix, int r0, int nr, int32_t** out, int* lens, float* scores) {
    const GenOptions* o = r->o;
    const int n = o->num_seq, K2 = 2 * n, V = r->V, L0 = r->L0, Tn = o->max_new_tokens;
    const Backend* be = r->m->base;
    Beams* bm = calloc((size_t)nr, sizeof *bm);
    int64_t* slot = malloc((size_t)nr * n * sizeof *slot);
    int64_t* src = malloc((size_t)r->c.slots * sizeof *src); /* kv_cache_reorder reads every row of the cache */
    int32_t* tok = malloc((size_t)nr * n * sizeof *tok);
    float* acc = malloc((size_t)n * V * sizeof(float));
    float* first = malloc((size_t)nr * V * sizeof(float)); /* the prefill's logits: every beam's at step 0 */
    uint8_t* allow = malloc((size_t)V);
    uint8_t* excl = malloc((size_t)n * V);
    float* scratch = malloc((size_t)V * sizeof(float));
    Cand* cand = malloc((size_t)(K2 + n) * sizeof *cand);
    int32_t* kseq = malloc((size_t)K2 * (Tn ? Tn : 1) * sizeof *kseq);
    float* ksc = malloc((size_t)K2 * sizeof(float));
    uint8_t* khit = malloc((size_t)K2);
    int* kpar = malloc((size_t)K2 * sizeof *kpar);
    CHECK(bm && slot && src && tok && acc && first && allow && excl && scratch && cand && kseq && ksc && khit && kpar,
          "out of memory");
    for (int i = 0; i < nr; i++) {
        Beams* b = &bm[i];
        b->run_seq = calloc((size_t)n * (Tn ? Tn : 1), sizeof(int32_t));
        b->fin_seq = calloc((size_t)n * (Tn ? Tn : 1), sizeof(int32_t));
        b->run_sc = malloc((size_t)n * sizeof(float));
        b->fin_sc = malloc((size_t)n * sizeof(float));
        b->fin_len = calloc((size_t)n, sizeof(int));
        b->fin = calloc((size_t)n, 1);
        CHECK(b->run_seq && b->fin_seq && b->run_sc && b->fin_sc && b->fin_len && b->fin, "out of memory");
        for (int j = 0; j < n; j++) { b->run_sc[j] = j ? -1e9f : 0.0f; b->fin_sc[j] = -1e9f; }
        b->unsat = 1;
        slot[i] = (int64_t)i * n; /* the prefill fills each row's beam 0; step 0 reads only it */
    }
    const size_t es = dtype_size(be->dtype);
    causal_lm_forward(r->m, r->d_logits, NULL, (const char*)prefix + (size_t)r0 * L0 * r->Dd * es, nr, L0, 0, slot, &r->c);
    be->download(be, first, r->d_logits, (size_t)nr * V);
    int na = nr; /* the rows still searching, in order: their logits are rows a*n + j of r->logits */
    int* act = malloc((size_t)nr * sizeof *act);
    CHECK(act, "out of memory");
    for (int i = 0; i < nr; i++) act[i] = i;
    for (int cur = 0; cur < Tn && na > 0; cur++) {
        int kept = 0;
        for (int a = 0; a < na; a++) {
            const int i = act[a];
            Beams* b = &bm[i];
            /* b. log_softmax, the processors (sampling: then the warpers), + the running scores */
            for (int j = 0; j < n; j++) {
                float* row = acc + (size_t)j * V;
                memcpy(row, cur == 0 ? first + (size_t)i * V : r->logits + ((size_t)a * n + j) * V, (size_t)V * sizeof(float));
                if (o->on_logits) o->on_logits(o->on_logits_ctx, cur, r0 + i, j, row, V);
                log_softmax_row(row, V);
                process_row(row, V, o, b->run_seq + (size_t)j * Tn, cur, allow);
                if (o->sample) warp_row(row, V, o, 2, scratch);
                for (int v = 0; v < V; v++) row[v] = row[v] + b->run_sc[j];
            }
            /* c. the 2n best continuations over all beams (sampling: 2n drawn without replacement) */
            if (o->sample) {
                memset(excl, 0, (size_t)n * V);
                for (int k = 0; k < K2; k++) {
                    const int idx = draw_row(acc, n * V, uniform_at(o->seed, (uint64_t)(r0 + i), (uint64_t)cur, (uint64_t)k), excl);
                    excl[idx] = 1;
                    cand[k] = (Cand){acc[idx], idx};
                }
            } else top_k(acc, n * V, K2, cand);
            for (int k = 0; k < K2; k++) {
                const int beam = cand[k].idx / V, t = cand[k].idx % V;
                memcpy(kseq + (size_t)k * Tn, b->run_seq + (size_t)beam * Tn, (size_t)cur * sizeof(int32_t));
                kseq[(size_t)k * Tn + cur] = t;
                ksc[k] = cand[k].s;
                khit[k] = t == o->eos || cur + 1 >= Tn; /* d. EosTokenCriteria, MaxLengthCriteria */
                kpar[k] = beam;
            }
            /* e. the n best candidates that did not stop keep running */
            float run_sc[64];
            for (int k = 0; k < K2; k++) run_sc[k] = ksc[k] + (khit[k] ? -1.0e9f : 0.0f);
            Cand best[64];
            top_k(run_sc, K2, n, best);
            int32_t* nseq = malloc((size_t)n * (Tn ? Tn : 1) * sizeof(int32_t));
            CHECK(nseq, "out of memory");
            for (int j = 0; j < n; j++) {
                const int k = best[j].idx;
                memcpy(nseq + (size_t)j * Tn, kseq + (size_t)k * Tn, (size_t)(cur + 1) * sizeof(int32_t));
                b->run_sc[j] = run_sc[k];
                src[(size_t)i * n + j] = (int64_t)i * n + (cur == 0 ? 0 : kpar[k]); /* step 0: every beam is beam 0 */
            }
            memcpy(b->run_seq, nseq, (size_t)n * (Tn ? Tn : 1) * sizeof(int32_t));
            free(nseq);
            /* f. the finished: scores / length, the n best of the old ones and the top-n candidates that stopped */
            float merged[128];
            for (int j = 0; j < n; j++) merged[j] = b->fin_sc[j];
            for (int k = 0; k < K2; k++) {
                float s = ksc[k] / (float)(cur + 1);
                s += b->unsat ? 0.0f : -1.0e9f;
                s += khit[k] && k < n ? 0.0f : -1.0e9f;
                merged[n + k] = s;
            }
            top_k(merged, n + K2, n, best);
            int32_t* fseq = malloc((size_t)n * (Tn ? Tn : 1) * sizeof(int32_t));
            int flen[64];
            float fsc[64];
            uint8_t ffin[64];
            CHECK(fseq, "out of memory");
            for (int j = 0; j < n; j++) {
                const int m = best[j].idx;
                if (m < n) {
                    memcpy(fseq + (size_t)j * Tn, b->fin_seq + (size_t)m * Tn, (size_t)Tn * sizeof(int32_t));
                    flen[j] = b->fin_len[m], fsc[j] = b->fin_sc[m], ffin[j] = b->fin[m];
                } else {
                    const int k = m - n;
                    memcpy(fseq + (size_t)j * Tn, kseq + (size_t)k * Tn, (size_t)(cur + 1) * sizeof(int32_t));
                    flen[j] = cur + 1, fsc[j] = merged[m], ffin[j] = khit[k] && k < n;
                }
            }
            memcpy(b->fin_seq, fseq, (size_t)n * (Tn ? Tn : 1) * sizeof(int32_t));
            memcpy(b->fin_len, flen, (size_t)n * sizeof(int));
            memcpy(b->fin_sc, fsc, (size_t)n * sizeof(float));
            memcpy(b->fin, ffin, (size_t)n);
            free(fseq);
            /* g. can a running beam still beat the worst finished one? */
            float worst = INFINITY;
            for (int j = 0; j < n; j++) worst = b->fin_sc[j] < worst ? b->fin_sc[j] : worst;
            const float best_run = b->run_sc[0] / (float)(cur + 1);
            int improve = 0;
            for (int j = 0; j < n; j++) improve |= best_run > (b->fin[j] ? worst : -1.0e9f);
            b->unsat = b->unsat && improve;
            if (b->unsat && cur + 1 < Tn) act[kept++] = i;
            else b->done = 1;
        }
        na = kept;
        if (na == 0 || cur + 1 >= Tn) break;
        /* the caches follow the beams (rows of the finished groups stay where they are), then one step of the rest */
        for (int q = nr * n; q < r->c.slots; q++) src[q] = q; /* rows this chunk does not use */
        for (int i = 0; i < nr; i++)
            if (bm[i].done)
                for (int j = 0; j < n; j++) src[(size_t)i * n + j] = (int64_t)i * n + j;
        kv_cache_reorder(&r->c, r->m, src);
        for (int a = 0; a < na; a++) {
            const int i = act[a];
            for (int j = 0; j < n; j++) {
                slot[(size_t)a * n + j] = (int64_t)i * n + j;
                tok[(size_t)a * n + j] = bm[i].run_seq[(size_t)j * Tn + cur];
            }
        }
        step(r, tok, slot, na * n, L0 + cur);
    }
    for (int i = 0; i < nr; i++) {
        Beams* b = &bm[i];
        for (int j = 0; j < n; j++) {
            const int len = b->fin_len[j]; /* a slot nothing reached holds the initial padding: no tokens */
            int32_t* s = malloc((size_t)(len ? len : 1) * sizeof(int32_t));
            CHECK(s, "out of memory");
            memcpy(s, b->fin_seq + (size_t)j * Tn, (size_t)len * sizeof(int32_t));
            out[(size_t)(r0 + i) * n + j] = s;
            lens[(size_t)(r0 + i) * n + j] = len;
            if (scores) scores[(size_t)(r0 + i) * n + j] = b->fin_sc[j];
        }
        free(b->run_seq); free(b->run_sc); free(b->fin_seq); free(b->fin_len); free(b->fin_sc); free(b->fin);
    }
    free(bm); free(slot); free(src); free(tok); free(acc); free(first); free(allow); free(excl); free(scratch);
    free(cand); free(kseq); free(ksc); free(khit); free(kpar); free(act);
}

int generate_labels(const GlinerModel* m, const void* prefix, int rows, int L0, const GenOptions* o, int32_t** out,
                    int* lens, float* scores, char* err, size_t errlen) {
    const Backend* be = m->base;
    const int n = o->num_seq, Tn = o->max_new_tokens;
    if (!causal_lm_supported(be))
        return gl_set_err(err, errlen, "label generation runs on the CPU only for now (the %s backend has no decoder ops)",
                          be->name);
    if (n < 1 || n > 32) return gl_set_err(err, errlen, "num_gen_sequences %d: expected 1 to 32", n);
    if (Tn < 1) return gl_set_err(err, errlen, "max_new_tokens %d: expected at least 1", Tn);
    if (o->sample && !(o->temperature > 0)) return gl_set_err(err, errlen, "temperature %g: expected > 0", o->temperature);
    const int P = causal_lm_max_positions(m);
    if (P > 0 && L0 + Tn > P)
        return gl_set_err(err, errlen, "a decoder prefix of %d positions and %d new tokens passes the decoder's %d "
                          "positions (n_positions): fewer or shorter texts per batch", L0, Tn, P);
    if (rows == 0) return 0;
    Run r = {.m = m, .o = o, .V = causal_lm_vocab(m), .Dd = causal_lm_hidden(m), .L0 = L0};
    const BackboneConfig* dc = &m->cfg.labels_decoder_config;
    /* rows per chunk: the cache (layers x 2 x cap x width per sequence) and the prefill's widest temporaries */
    const int inner = dc->family == BACKBONE_GPT2 ? dc->n_inner : dc->intermediate_size;
    const size_t per_row = dtype_size(be->dtype) *
                           ((size_t)dc->num_hidden_layers * 2 * (L0 + Tn) * dc->hidden_size * n +
                            (size_t)L0 * (6 * (size_t)dc->hidden_size + 2 * (size_t)inner) + (size_t)r.V * (n + 1));
    const size_t budget = o->mem_budget ? o->mem_budget : (size_t)512 << 20;
    int chunk = (int)(budget / (per_row ? per_row : 1));
    chunk = chunk < 1 ? 1 : chunk > rows ? rows : chunk;
    kv_cache_init(&r.c, m, chunk * n, L0 + Tn);
    r.logits = malloc((size_t)chunk * n * r.V * sizeof(float));
    CHECK(r.logits, "out of memory");
    r.d_logits = be->alloc(be, (size_t)chunk * n * r.V * dtype_size(be->dtype));
    r.d_x = be->alloc(be, (size_t)chunk * n * r.Dd * dtype_size(be->dtype));
    for (int r0 = 0; r0 < rows; r0 += chunk) {
        const int nr = rows - r0 < chunk ? rows - r0 : chunk;
        if (n == 1) run_single(&r, prefix, r0, nr, out, lens, scores);
        else run_beams(&r, prefix, r0, nr, out, lens, scores);
    }
    kv_cache_free(&r.c, m);
    be->free(be, r.d_logits);
    be->free(be, r.d_x);
    free(r.logits);
    return 0;
}
