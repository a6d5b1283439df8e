#!/usr/bin/env python
"""Recomputes what the relex mode fixtures dump from the spec's formulas (GLINER_SPEC 7.2 entity selection and
packing, 7.5 every relations_layer mode, pair building and padding, relation prompts, pair_rep_layer, 7.6 every
triples interaction incl. TuckER's reshape, 9.5 relation dict fields), independently of the gliner package:

    /work/venv/bin/python scripts/check_relex_fixtures.py [tests/fixtures]

Exit status 1 on any mismatch."""
import glob
import json
import math
import os
import sys

import torch
from safetensors.torch import load_file

torch.set_grad_enabled(False)
root = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
bad = 0
def close(a, b, what, tol=2e-5):
    global bad
    a = a.float(); b = b.float()
    fin = torch.isfinite(b)
    ok = a.shape == b.shape and torch.equal(torch.isnan(a), torch.isnan(b)) and torch.allclose(a[fin], b[fin], atol=tol, rtol=1e-4)
    if not ok:
        bad += 1
        d = (a - b).abs()[fin].max() if a.shape == b.shape else f"shape {tuple(a.shape)} vs {tuple(b.shape)}"
        print("  MISMATCH", what, d)
    return ok
def mha(X, mask, W, pre, nh=8):
    B, E, D = X.shape; hd = D // nh
    w, bb = W[pre + ".in_proj_weight"], W[pre + ".in_proj_bias"]
    q, k, v = (X @ w[i*D:(i+1)*D].T + bb[i*D:(i+1)*D] for i in range(3))
    q = q.view(B, E, nh, hd).transpose(1, 2); k = k.view(B, E, nh, hd).transpose(1, 2); v = v.view(B, E, nh, hd).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
    p = s.softmax(-1)
    o = (p @ v).transpose(1, 2).reshape(B, E, D)
    o = o @ W[pre + ".out_proj.weight"].T + W[pre + ".out_proj.bias"]
    return o, p.mean(1)
def adjacency(mode, X, em, W):
    pre = "relations_rep_layer.relation_rep_layer"
    m = em.float(); pm = m[:, :, None] * m[:, None, :]
    if mode == "dot": return torch.sigmoid(X @ X.transpose(1, 2)) * pm
    if mode == "mlp":
        B, E, D = X.shape
        cat = torch.cat([X[:, :, None].expand(B, E, E, D), X[:, None].expand(B, E, E, D)], -1)
        h = torch.relu(cat @ W[pre + ".mlp.0.weight"].T + W[pre + ".mlp.0.bias"])
        return torch.sigmoid((h @ W[pre + ".mlp.2.weight"].T + W[pre + ".mlp.2.bias"]).squeeze(-1)) * pm
    if mode in ("attention", "attn"):
        _, a = mha(X, em.bool(), W, pre + ".attn"); return a * pm
    if mode == "bilinear":
        Z = X @ W[pre + ".proj.weight"].T + W[pre + ".proj.bias"]; return torch.sigmoid(Z @ Z.transpose(1, 2)) * pm
    if mode == "gcn":
        A0 = torch.sigmoid(X @ X.transpose(1, 2)) * pm
        Ah = A0 * pm + torch.diag_embed(m)
        deg = Ah.sum(-1).clamp(min=1e-6); di = deg.pow(-0.5)
        An = di[:, :, None] * Ah * di[:, None, :]
        H = torch.relu((An @ X) @ W[pre + ".gcn.linear.weight"].T + W[pre + ".gcn.linear.bias"])
        Z = H @ W[pre + ".proj.weight"].T + W[pre + ".proj.bias"]; return torch.sigmoid(Z @ Z.transpose(1, 2)) * pm
    if mode == "gat":
        H, _ = mha(X, em.bool(), W, pre + ".attn")
        Z = H @ W[pre + ".linear.weight"].T + W[pre + ".linear.bias"]; return torch.sigmoid(Z @ Z.transpose(1, 2)) * pm
    raise ValueError(mode)
def triple(mode, h, r, t):
    if mode == "UM": return -torch.linalg.norm(h - t, dim=-1).clamp(max=10)
    if mode == "SE": return -torch.linalg.norm(r * h - r * t, dim=-1).clamp(max=10)
    if mode == "TransE": return -(h + r - t).abs().sum(-1).clamp(max=10)
    if mode == "DistMult": return (h * r * t).sum(-1)
    if mode == "DistMA": return (h * r).sum(-1) + (h * t).sum(-1) + (r * t).sum(-1)
    if mode == "SimplE":
        n = h.shape[-1] // 2
        return 0.5 * ((h[..., :n] * r[..., :n] * t[..., n:]).sum(-1) + (t[..., :n] * r[..., n:] * h[..., n:]).sum(-1))
    if mode == "ComplEx":
        n = h.shape[-1] // 2; hr, hi, rr, ri, tr, ti = h[..., :n], h[..., n:], r[..., :n], r[..., n:], t[..., :n], t[..., n:]
        return (hr * rr * tr + hr * ri * ti + hi * rr * ti - hi * ri * tr).sum(-1)
    if mode == "QuatE":
        q = h.shape[-1] // 4; H = [h[..., i*q:(i+1)*q] for i in range(4)]; R = [r[..., i*q:(i+1)*q] for i in range(4)]; T = [t[..., i*q:(i+1)*q] for i in range(4)]
        a, b, c, d = H; e, f, g, hh = R
        A0 = a*e - b*f - c*g - d*hh; A1 = a*f + b*e + c*hh - d*g; A2 = a*g - b*hh + c*e + d*f; A3 = a*hh + b*g - c*f + d*e
        return (A0 * T[0] + A1 * T[1] + A2 * T[2] + A3 * T[3]).sum(-1)
    if mode == "HolE":
        D = h.shape[-1]
        # circular correlation: corr[k] = sum_i h[i] t[(i+k) mod D]
        idx = (torch.arange(D)[None, :] + torch.arange(D)[:, None]) % D  # [k, i] -> i+k
        corr = (h[..., None, :] * t[..., idx]).sum(-1)
        return (corr * r).sum(-1)
    raise ValueError(mode)
for d in sorted(glob.glob(f"{root}/models/uni_*_relex_*")):
    name = os.path.basename(d)
    cfg = json.load(open(f"{d}/gliner_config.json"))
    W = load_file(f"{d}/model.safetensors")
    T = load_file(f"{d}/reference/tensors.safetensors")
    J = json.load(open(f"{d}/reference/inputs.json"))
    tmap = J["tensors"]
    def get(k):
        while k in tmap and "same_as" in tmap[k]: k = tmap[k]["same_as"]
        return T[k]
    mode = cfg["relations_layer"].lower(); tri = cfg.get("triples_layer")
    token = cfg["span_mode"] == "token_level"
    print(f"{name}: relations_layer={cfg['relations_layer']} triples_layer={tri} token={token}")
    for c in ("main", "heldout"):
        th = J["cases"][c]["thresholds"]; t_ent, t_adj, t_rel = th["threshold"], th["adjacency_threshold"], th["relation_threshold"]
        if t_adj is None: t_adj = t_ent
        X, em, es = get(f"{c}.relex.ent_rep"), get(f"{c}.relex.ent_mask"), get(f"{c}.relex.entity_spans")
        if not token:  # 7.2 step 4: selection + packing
            sr, lg = get(f"{c}.span_rep"), get(f"{c}.output.logits"); B, Wd, K, D = sr.shape
            smask = get(f"{c}.batch.span_mask").view(B, -1).bool(); sidx = get(f"{c}.batch.span_idx")
            keep = (torch.sigmoid(lg).max(-1).values.view(B, -1) > t_ent) & smask
            E = int(keep.sum(1).max())
            rep = torch.zeros(B, E, D); msk = torch.zeros(B, E, dtype=torch.long); spn = torch.zeros(B, E, 2, dtype=torch.long)
            for b in range(B):
                j = keep[b].nonzero().flatten(); rep[b, :len(j)] = sr.view(B, -1, D)[b, j]; msk[b, :len(j)] = 1
                spn[b, :len(j)] = (sidx[b] * smask[b][:, None])[j]
            close(rep, X, f"{c} ent_rep"); close(msk, em, f"{c} ent_mask"); close(spn, es, f"{c} entity_spans")
        B, E, D = X.shape
        if mode != "none":
            A = adjacency(mode, X, em, W); close(A, get(f"{c}.relations_rep"), f"{c} A ({mode})")
            A = get(f"{c}.relations_rep")
            lists = [[(i, j) for i in range(E) for j in range(E) if i != j and A[b, i, j] > t_adj] for b in range(B)]
        else:
            n = em.sum(1).tolist()
            lists = [[(i, j) for i in range(n[b]) for j in range(n[b]) if i != j] for b in range(B)]
        P = max(1, max(len(l) for l in lists))
        pidx = torch.full((B, P, 2), -1, dtype=torch.long); pm = torch.zeros(B, P, dtype=torch.long)
        for b, l in enumerate(lists):
            for p, ij in enumerate(l): pidx[b, p] = torch.tensor(ij); pm[b, p] = 1
        close(pidx, get(f"{c}.relex.pair_idx"), f"{c} pair_idx"); close(pm, get(f"{c}.relex.pair_mask"), f"{c} pair_mask")
        bi = torch.arange(B)[:, None]
        head = X[bi, pidx[..., 0].clamp(min=0)]; tail = X[bi, pidx[..., 1].clamp(min=0)]
        if max(len(l) for l in lists) == 0: head = tail = torch.zeros(B, 1, D)
        close(head, get(f"{c}.relex.head_rep"), f"{c} head_rep"); close(tail, get(f"{c}.relex.tail_rep"), f"{c} tail_rep")
        # Q_rel: token embeddings at <<REL>> positions
        ids, te = get(f"{c}.batch.input_ids"), get(f"{c}.token_embeds"); Q = get(f"{c}.rel_prompts_embedding")
        for b in range(B):
            pos = (ids[b] == cfg["rel_token_index"]).nonzero().flatten()
            close(te[b, pos], Q[b, :len(pos)], f"{c} Q_rel[{b}]")
        R = Q.shape[1]
        if tri is None:
            z = torch.cat([head, tail], -1)
            z = torch.relu(z @ W["pair_rep_layer.0.weight"].T + W["pair_rep_layer.0.bias"]) @ W["pair_rep_layer.3.weight"].T + W["pair_rep_layer.3.bias"]
            rl = torch.einsum("bpd,brd->bpr", z, Q)
        else:
            rl = triple(tri, head[:, :, None].expand(B, P, R, D), Q[:, None].expand(B, P, R, D), tail[:, :, None].expand(B, P, R, D))
        close(rl, get(f"{c}.output.rel_logits"), f"{c} rel_logits ({tri or 'pair_rep'})", tol=5e-5)
        # decoded relations: format and threshold
        k = J["cases"][c]["decoded_tuned_key"]; dec = J["cases"][c]["decoded"][k]
        for b, rels in enumerate(dec["relations"]):
            for r in rels:
                assert set(r) == {"head", "tail", "relation", "score"} and set(r["head"]) == {"start", "end", "text", "type", "entity_idx"}, r
                assert r["score"] > t_rel
                ents = dec["entities"][b]; h = ents[r["head"]["entity_idx"]]
                assert (h["start"], h["end"], h["text"], h["label"]) == (r["head"]["start"], r["head"]["end"], r["head"]["text"], r["head"]["type"])
print("mismatches:", bad)
# interactions fixture
T = load_file(f"{root}/relex_triples/interactions.safetensors"); J = json.load(open(f"{root}/relex_triples/interactions.json"))
h, r, t = T["h"], T["r"], T["t"]
def P(m, k): return T[f"{m}.triples_score_layer.interaction.{k}"]
def L(m, n, x): return x @ P(m, n + ".weight").T + P(m, n + ".bias")
nb = lambda x: -x.clamp(max=10)
extra = {
 "TransH": lambda m: (lambda w: nb(torch.linalg.norm((h - (h*w).sum(-1, keepdim=True)*w) + L(m, "r_to_rtr", r) - (t - (t*w).sum(-1, keepdim=True)*w), dim=-1)))(torch.nn.functional.normalize(L(m, "r_to_w", r), dim=-1)),
 "TransF": lambda m: nb(torch.linalg.norm(L(m, "r_to_alpha", r)*h + L(m, "r_to_rvec", r) - L(m, "r_to_beta", r)*t, dim=-1)),
 "PairRE": lambda m: nb(torch.linalg.norm(L(m, "r_to_alpha", r)*h - L(m, "r_to_beta", r)*t, dim=-1)),
 "TripleRE": lambda m: L(m, "r_to_gamma", r).squeeze(-1) * nb(torch.linalg.norm(L(m, "r_to_alpha", r)*h + L(m, "r_to_delta", r) - L(m, "r_to_beta", r)*t, dim=-1)),
 "ERMLP": lambda m: (torch.relu(L(m, "mlp.0", torch.cat([h, r, t], -1))) @ P(m, "mlp.2.weight").T + P(m, "mlp.2.bias")).squeeze(-1),
 "ConvKB": lambda m: (torch.relu(torch.einsum("fc,ncd->nfd", P(m, "conv.weight")[:, :, 0], torch.stack([h, r, t], 1)) + P(m, "conv.bias")[None, :, None]).reshape(h.shape[0], -1) @ P(m, "fc.weight").T + P(m, "fc.bias")).squeeze(-1),
}
def tucker(m):
    def bn(x, p): return (x - P(m, p + ".running_mean")) / torch.sqrt(P(m, p + ".running_var") + 1e-5) * P(m, p + ".weight") + P(m, p + ".bias")
    N, D = h.shape
    G = torch.einsum("ni,kij->knj", r, P(m, "W"))  # (dim, N, dim)
    M = G.contiguous().view(N, D, D)
    return torch.einsum("na,nab,nb->n", bn(h, "bn0"), M, bn(t, "bn1"))
extra["TuckER"] = tucker
for m, e in J["modes"].items():
    if "build_error" in e: print("  ", m, "build error:", e["build_error"]); continue
    f = extra.get(m) or (lambda mm: triple(mm, h, r, t))
    ok = close(f(m), T[f"{m}.scores"], f"interaction {m}", tol=5e-5)
    print("  ", m, "ok" if ok else "MISMATCH")
print("total mismatches:", bad)
sys.exit(1 if bad else 0)
