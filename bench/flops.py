#!/usr/bin/env python
"""Forward FLOPs of a UniEncoderSpan GLiNER (BERT encoder, BiLSTM, markerV0) for the batch shapes actually
run. A multiply-add counts 2 FLOPs; element-wise ops (GELU, LayerNorm, softmax, LSTM gates) are left out.
Both implementations compute every padded position, so the dense terms use the padded shapes:
  encoder    per layer, M = B*T:  QKV 2*M*H*3H, attention output 2*M*H*H, FFN 2*M*H*I*2,
             attention scores QK^T 2*B*T*T*H and P.V 2*B*T*T*H
  projection 2*M*H*D (when D != H)
  BiLSTM     2 directions x (input 2*N*Din*4h + recurrent 2*N*h*4h), h = D/2, N = real words (packed sequences)
  span head  project_start/_end 2 x 2*B*W*(D*4D + 4D*D); out_project 2*B*W*K*(2D*4D + 4D*D)
  prompts    prompt_rep 2*B*C*(D*4D + 4D*D)
  scorer     2*B*W*K*C*D
Usage: flops.py CONFIG.json SHAPES.json   (SHAPES: bench_reference.py --shapes output, "batch_shapes")
Prints a JSON object: total and per-part GFLOP, GFLOP per text, and the dominant GEMM shapes."""
import json
import sys


def count(cfg, shapes):
    enc = cfg["encoder_config"]
    H, L, I = enc["hidden_size"], enc["num_hidden_layers"], enc["intermediate_size"]
    D, K = cfg["hidden_size"], cfg["max_width"]
    h = D // 2
    parts = {k: 0.0 for k in ("encoder_gemm", "attention", "projection", "lstm", "span_start_end", "span_out_project",
                              "span_out_project_valid_only", "prompt_rep", "scorer")}
    gemms = {}

    def g(name, m, n, k, times=1):
        key = f"{name} M~{m} N={n} K={k}"
        gemms.setdefault(name, {"N": n, "K": k, "M_total": 0, "flop": 0.0})
        gemms[name]["M_total"] += m
        gemms[name]["flop"] += 2.0 * m * n * k * times
        return 2.0 * m * n * k * times

    texts = 0
    spans_all = [0, 0]
    for s in shapes:
        B, T, W, C, words = s["B"], s["T"], s["W"], s["C"], s["words"]
        texts += B
        M = B * T
        parts["encoder_gemm"] += g("enc_qkv", M, 3 * H, H, L) + g("enc_attn_out", M, H, H, L)
        parts["encoder_gemm"] += g("enc_ffn_in", M, I, H, L) + g("enc_ffn_out", M, H, I, L)
        parts["attention"] += L * 4.0 * B * T * T * H
        if D != H:
            parts["projection"] += g("projection", M, D, H)
        parts["lstm"] += 2 * (2.0 * words * D * 4 * h + 2.0 * words * h * 4 * h)
        parts["span_start_end"] += 2 * (g("span_proj_1", B * W, 4 * D, D) / 2 + g("span_proj_2", B * W, D, 4 * D) / 2)
        S = B * W * K
        parts["span_out_project"] += g("span_out_1", S, 4 * D, 2 * D) + g("span_out_2", S, D, 4 * D)
        # spans a decoder can read (span_mask = 1): per text of n words, sum_i min(K, n - i)
        valid = sum(sum(min(K, n - i) for i in range(n)) for n in s.get("lengths", []))
        parts["span_out_project_valid_only"] += 2.0 * valid * (2 * D * 4 * D + 4 * D * D)
        spans_all[0] += S
        spans_all[1] += valid
        parts["prompt_rep"] += 2.0 * B * C * (D * 4 * D + 4 * D * D)
        parts["scorer"] += 2.0 * S * C * D
    total = sum(v for k, v in parts.items() if k != "span_out_project_valid_only")

    parts["spans_computed"] = spans_all[0]
    parts["spans_valid"] = spans_all[1]
    return texts, total, parts, gemms


def main():
    cfg = json.load(open(sys.argv[1]))
    sh = json.load(open(sys.argv[2]))
    shapes = sh["batch_shapes"] if isinstance(sh, dict) else sh
    texts, total, parts, gemms = count(cfg, shapes)
    valid_only = parts.pop("span_out_project_valid_only")
    spans, valid = parts.pop("spans_computed"), parts.pop("spans_valid")
    out = {
        "texts": texts,
        "batches": len(shapes),
        "gflop_total": round(total / 1e9, 3),
        "gflop_per_text": round(total / 1e9 / texts, 4),
        "parts_gflop": {k: round(v / 1e9, 3) for k, v in parts.items()},
        "parts_fraction": {k: round(v / total, 4) for k, v in parts.items()},
        "gemms": {k: {"N": v["N"], "K": v["K"], "M_avg_per_batch": round(v["M_total"] / len(shapes)),
                      "gflop": round(v["flop"] / 1e9, 3)} for k, v in sorted(gemms.items(), key=lambda x: -x[1]["flop"])},
        "spans_computed": spans,
        "spans_valid": valid,
        "span_out_project_gflop_if_valid_spans_only": round(valid_only / 1e9, 3),
        "padded_words": sum(s["B"] * s["W"] for s in shapes),
        "real_words": sum(s["words"] for s in shapes),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
