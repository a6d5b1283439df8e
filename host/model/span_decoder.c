/* span_decoder.c -- the decoder prefix of UniEncoderSpanDecoderModel (gliner/modeling/base.py
   select_span_decoder_embedding + get_raw_decoder_inputs; spec §8.3), after the span logits:
     1. keep[b, f] = max_c sigmoid(logits[b, f, c]) > threshold and span_mask[b, f] over every label column (padded
        ones too, as the reference) -- the op relex_select_spans, the same selection -- packed per text in increasing
        f = start*K + width: sel (B, S), -1 past the count
     2. the kept rows of span_rep, through _enc2dec_proj (MLP4 D -> Dd) when D != Dd
     3. without full_decoder_context each prefix is that one vector (L0 = 1); with it, row (b, f) takes the decoder
        tokens t with start <= decoder_words_mask[b, t] <= end (start = f/K + 1, end = f%K + start, 1-based words)
        and is left padded to L0 = Tmax + 1: zeros, the span vector, the tokens' input embeddings (no positions).
        Tmax is the most tokens of any row, the padding rows (f = -1: start 0, end K-1 in Python's floor
        arithmetic, so every token whose mask is 0 -- specials, the prompt, padding -- and the first K-1 words) of
        every text with fewer than S kept spans included (quirk 10)
     4. the kept rows only, b-major then f: prefix (Mk, L0, Dd), assembled by one row gather from
        [zero row ; span vectors ; token embeddings]. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "causal_lm.h"
#include "model.h"

void decoder_outputs_free(ModelOutputs* out) {
    free(out->dec_sel);
    free(out->dec_count);
    free(out->dec_ntok);
    out->dec_sel = NULL;
    out->dec_count = NULL;
    out->dec_ntok = NULL;
}

void decoder_prefix_forward(const GlinerModel* m, const ModelInputs* in, ModelOutputs* out, const Capture* cap,
                            const void* span, const void* logits, const int64_t* d_si, const int64_t* d_sm, int C) {
    const Backend* be = m->be;
    const GlinerConfig* cfg = &m->cfg;
    const int B = in->B, K = cfg->max_width, S = in->W * K, D = cfg->hidden_size, Dd = causal_lm_hidden(m);
    const int full = cfg->full_decoder_context;
    const size_t es = dtype_size(be->dtype);
    CHECK(be->relex_select_spans && (!full || in->decoder_words_mask), "decoder prefix inputs (gliner_forward checks)");
    /* 1. selection: the counts, then the kept spans' (start, end) on the host, f = start*K + end - start */
    int* cnt = calloc((size_t)B, sizeof *cnt);
    CHECK(cnt, "out of memory");
    be->relex_select_spans(be, cnt, NULL, NULL, NULL, logits, d_si, d_sm, B, S, C, in->threshold, 0, 0);
    int E = 1, Mk = 0;
    for (int b = 0; b < B; b++) { E = cnt[b] > E ? cnt[b] : E; Mk += cnt[b]; }
    int64_t* spans = calloc((size_t)B * E * 2, sizeof *spans);
    CHECK(spans, "out of memory");
    be->relex_select_spans(be, cnt, NULL, NULL, spans, logits, d_si, d_sm, B, S, C, in->threshold, 0, E);
    out->dec_S = S;
    out->dec_count = cnt;
    out->dec_sel = malloc((size_t)B * (S ? S : 1) * sizeof(int64_t));
    out->dec_ntok = calloc((size_t)(Mk ? Mk : 1), sizeof(int));
    CHECK(out->dec_sel && out->dec_ntok, "out of memory");
    for (size_t j = 0; j < (size_t)B * S; j++) out->dec_sel[j] = -1;
    for (int b = 0; b < B; b++)
        for (int e = 0; e < cnt[b]; e++) {
            const int64_t* sp = spans + ((size_t)b * E + e) * 2;
            out->dec_sel[(size_t)b * S + e] = sp[0] * K + (sp[1] - sp[0]);
        }
    free(spans);

    /* 2. the kept span vectors (Mk, Dd): gathered (rows ids[b, e < cnt[b]] of the flat (B*S, D) span_rep), projected */
    int64_t* rows = malloc((size_t)(Mk ? Mk : 1) * sizeof *rows);
    CHECK(rows, "out of memory");
    for (int b = 0, r = 0; b < B; b++)
        for (int e = 0; e < cnt[b]; e++) rows[r++] = (int64_t)b * S + out->dec_sel[(size_t)b * S + e];
    void* vec = be->alloc(be, (size_t)(Mk ? Mk : 1) * D * es);
    if (Mk) {
        int64_t* d_rows = be->alloc(be, (size_t)Mk * sizeof(int64_t));
        be->upload_raw(be, d_rows, rows, (size_t)Mk * sizeof(int64_t));
        be->embedding(be, vec, span, d_rows, Mk, D, B * S);
    }
    free(rows);
    if (D != Dd) {
        void* p = be->alloc(be, (size_t)(Mk ? Mk : 1) * Dd * es);
        if (Mk) mlp4_forward(m, "_enc2dec_proj", p, vec, Mk, D, Dd);
        vec = p;
    }

    /* 3. the rows' decoder tokens and L0 */
    const int Td = in->Td;
    int tmax = 0;
    for (int b = 0; full && b < B; b++) {
        const int64_t* wm = in->decoder_words_mask + (size_t)b * Td;
        for (int e = 0; e <= cnt[b] && e < S; e++) { /* e == cnt[b] < S: the text's padding rows (f = -1) */
            const int64_t f = e < cnt[b] ? out->dec_sel[(size_t)b * S + e] : -1;
            const int64_t st = (f >= 0 ? f / K : -1) + 1, en = (f >= 0 ? f % K : K - 1) + st;
            int n = 0;
            for (int t = 0; t < Td; t++) n += wm[t] >= st && wm[t] <= en;
            tmax = n > tmax ? n : tmax;
        }
    }
    const int L0 = full ? tmax + 1 : 1;
    /* 4. the gather index: source rows 0 = zeros, 1 + r = span vector r, 1 + Mk + k = the k-th token embedding */
    int64_t* tok_ids = malloc((size_t)(Mk ? Mk : 1) * (L0 > 1 ? L0 - 1 : 1) * sizeof *tok_ids);
    int64_t* idx = calloc((size_t)(Mk ? Mk : 1) * L0, sizeof *idx);
    CHECK(tok_ids && idx, "out of memory");
    int n_tok = 0, r = 0;
    for (int b = 0; b < B; b++)
        for (int e = 0; e < cnt[b]; e++, r++) {
            const int64_t f = out->dec_sel[(size_t)b * S + e];
            int64_t* row = idx + (size_t)r * L0;
            if (!full) { row[0] = 1 + r; out->dec_ntok[r] = 0; continue; }
            const int64_t st = f / K + 1, en = f % K + st;
            const int64_t* wm = in->decoder_words_mask + (size_t)b * Td;
            const int64_t* di = in->decoder_input_ids + (size_t)b * Td;
            int n = 0;
            for (int t = 0; t < Td; t++) n += wm[t] >= st && wm[t] <= en;
            out->dec_ntok[r] = n;
            row[L0 - n - 1] = 1 + r;
            int p = L0 - n;
            for (int t = 0; t < Td; t++)
                if (wm[t] >= st && wm[t] <= en) {
                    tok_ids[n_tok] = di[t];
                    row[p++] = 1 + Mk + n_tok++;
                }
        }
    void* src = be->alloc(be, (size_t)(1 + Mk + n_tok) * Dd * es); /* row 0 stays zero (the arena zero-fills) */
    if (Mk) be->scale(be, (char*)src + (size_t)Dd * es, vec, 1.0f, (size_t)Mk * Dd);
    if (n_tok) causal_lm_embed(m, be, (char*)src + (size_t)(1 + Mk) * Dd * es, tok_ids, n_tok);
    out->dec_prefix = be->alloc(be, (size_t)(Mk ? Mk : 1) * L0 * Dd * es);
    if (Mk) {
        int64_t* d_idx = be->alloc(be, (size_t)Mk * L0 * sizeof(int64_t));
        be->upload_raw(be, d_idx, idx, (size_t)Mk * L0 * sizeof(int64_t));
        be->embedding(be, out->dec_prefix, src, d_idx, Mk * L0, Dd, 1 + Mk + n_tok);
    }
    free(tok_ids);
    free(idx);
    out->dec_rows = Mk;
    out->dec_len = L0;
    int64_t s3[3] = {Mk, L0, Dd};
    capture(cap, "decoder_prefix", out->dec_prefix, 3, s3);
}
