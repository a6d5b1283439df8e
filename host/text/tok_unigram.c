/* tok_unigram.c -- SentencePiece Unigram segmentation as the tokenizers crate's
   Unigram::encode_optimized (tokenizers/src/models/unigram/model.rs): Viterbi over byte
   positions, candidates from a byte-trie common-prefix search, float64 scores, ties keep the
   first candidate, an unknown edge of score min_score - 10 over one char when no piece is
   exactly that char; consecutive unknown edges are fused, then looked up again (byte_fallback
   turns a miss into <0xXX> pieces when all exist, else unk_id). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "text/tok_internal.h"

static void emit_piece(const Model* m, const char* s, size_t n, IdVec* out) {
    int32_t id = sm_get(&m->tok_id, s, n);
    if (id >= 0) {
        idvec_push(out, id);
        return;
    }
    if (m->byte_fallback) {
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", (uint8_t)s[i]);
            ok = sm_get(&m->tok_id, name, 6) >= 0;
        }
        if (ok) {
            for (size_t i = 0; i < n; i++) {
                char name[8];
                snprintf(name, sizeof name, "<0x%02X>", (uint8_t)s[i]);
                idvec_push(out, sm_get(&m->tok_id, name, 6));
            }
            return;
        }
    }
    idvec_push(out, m->unk_id);
}

int unigram_encode(const Model* m, const char* s, size_t n, IdVec* out, char* err, size_t errlen) {
    if (n == 0) return 0;
    double  unk_score = m->min_score - 10.0;
    double* best      = malloc((n + 1) * sizeof(double));
    long*   from      = malloc((n + 1) * sizeof(long)); /* -1 = not reached */
    int32_t* id       = malloc((n + 1) * sizeof(int32_t));
    CHECK(best && from && id, "out of memory");
    for (size_t i = 0; i <= n; i++) { best[i] = 0; from[i] = -1; id[i] = -1; }
    int rc = 0;
    for (size_t i = 0; i < n;) {
        size_t mblen  = (size_t)u8_len((uint8_t)s[i]);
        int    single = 0;
        double base   = best[i];
        int32_t node  = 0;
        for (size_t j = i; j < n; j++) {
            node = trie_step(&m->trie, node, (uint8_t)s[j]);
            if (node < 0) break;
            int32_t v = m->trie.value[node];
            if (v < 0) continue;
            size_t k     = j + 1;
            double score = base + m->scores[v];
            if (from[k] < 0 || score > best[k]) { best[k] = score; from[k] = (long)i; id[k] = v; }
            if (k - i == mblen) single = 1;
        }
        if (!single) {
            if (m->unk_id < 0) {
                rc = gl_set_err(err, errlen, "Unigram: a piece needs the unknown token but the model has no unk_id");
                break;
            }
            size_t k     = i + mblen;
            double score = base + unk_score;
            if (from[k] < 0 || score > best[k]) { best[k] = score; from[k] = (long)i; id[k] = m->unk_id; }
        }
        i += mblen;
    }
    if (rc == 0) {
        /* back-track into (start, end) pairs, fusing runs of unk */
        int     cap = 16, cnt = 0;
        size_t* seg = malloc((size_t)cap * 2 * sizeof(size_t));
        int*    unk = malloc((size_t)cap * sizeof(int));
        CHECK(seg && unk, "out of memory");
        for (size_t e = n; e > 0;) {
            size_t b = (size_t)from[e];
            int    u = id[e] == m->unk_id;
            if (u && cnt > 0 && unk[cnt - 1]) seg[2 * (cnt - 1)] = b; /* extend the fused run to the left */
            else {
                if (cnt == cap) {
                    cap *= 2;
                    seg = realloc(seg, (size_t)cap * 2 * sizeof(size_t));
                    unk = realloc(unk, (size_t)cap * sizeof(int));
                    CHECK(seg && unk, "out of memory");
                }
                seg[2 * cnt]     = b;
                seg[2 * cnt + 1] = e;
                unk[cnt++]       = u;
            }
            e = b;
        }
        for (int k = cnt - 1; k >= 0; k--) {
            size_t b = seg[2 * k], e = seg[2 * k + 1];
            if (unk[k]) emit_piece(m, s + b, e - b, out);
            else idvec_push(out, id[e]);
        }
        free(seg);
        free(unk);
    }
    free(best);
    free(from);
    free(id);
    return rc;
}
