#!/usr/bin/env python
"""Reference-side training fixtures for gliner.c (issue #6 "training").

Runs the REAL reference trainer -- `gliner.training.Trainer` (a `transformers.Trainer` subclass) with
`gliner.training.TrainingArguments` built by `GLiNER.create_training_args`, exactly the objects
`GLiNER.train_model` / the repository's `train.py` build -- for 20 optimizer steps on tiny fixture models
and records, per optimizer step, everything a re-implementation needs to replay the run:

    tests/fixtures/train/data.json               the 40 training examples of the entity models
    tests/fixtures/train/data_relex.json         the 40 training examples of the relex models
    tests/fixtures/train_decoder/data_decoder.json   the 40 training examples of the decoder models (16 words)
    tests/fixtures/train_decoder/<model>/{steps.safetensors,info.json}   the decoder models (DECODER_MODELS)
    tests/fixtures/train/<model>/steps.safetensors
    tests/fixtures/train/<model>/info.json

Models: MODELS (entity: uni_span_deberta_markerV0, uni_span_bert_markerV0, uni_token_deberta, bi_span_bert) and
RELEX_MODELS (uni_span_relex_mlp: mlp adjacency + pair_rep_layer; uni_span_relex_none: single step;
uni_span_relex_triples_DistMult / _TransE: weightless triples modes on the dot / bilinear adjacency;
uni_token_relex_attn: token relex, attention adjacency + pair_rep_layer) and DECODER_MODELS (generative label decoders,
spec 8: uni_span_decoder_gpt2 -- GPT-2, full decoder context, D = Dd = 32; uni_span_decoder_llama -- a tiny Llama,
grouped-query attention, RoPE theta 1e5, RMSNorm, SiLU MLP, tied head, padding_idx 0, full context, D = 16 ->
_enc2dec_proj). The decoder models are written to tests/fixtures/train_decoder/ (--out-decoder), not train/:
tests/golden/test_train_parity.c replays every directory of train/, and gliner.c has no decoder training yet.

Run from the repository root (offline, CPU, deterministic: reruns in one environment are byte-identical, asserted;
a rerun in a later environment -- same package versions, another machine -- moved the entity fixtures' values at
fp32 noise level, e.g. a loss 30.997774 -> 30.997772, so those were left as first committed; the relex ones were
written with `--only` + RELEX_MODELS):

    /work/venv/bin/python scripts/make_train_fixtures.py [--out tests/fixtures/train] [--only a,b]

Needs `accelerate` (the HF Trainer refuses to run without it; pinned in scripts/requirements.txt).

Start point
-----------
`GLiNER.from_pretrained("tests/fixtures/models/<model>")` (the existing fixture weights, not copied here),
cast to float32 as train.py does. Every dropout of these models is 0 (GLiNER `dropout` and the backbone
`hidden_dropout_prob` / `attention_probs_dropout_prob`): the script asserts that every `nn.Dropout` module has
p == 0, and the `dropout` of every `nn.MultiheadAttention` (relex attention / gat adjacency: PyTorch's default 0.0),
so model.train() mode (which the Trainer sets) is numerically the same as eval mode apart from that. No relex module
of these models has a dropout the config leaves non-zero (pair_rep_layer takes config.dropout = 0; the triples
scorer's 0.3 and TuckER's 0.2 belong to options not built here).

Data
----
The first 40 examples of /work/shared/data/gliner_train_sample/sample_data.json, each `tokenized_text`
truncated to the first MAX_WORDS (24) words (keeps the fixture small; all fixtures have max_len 64, and the
BERT tokenizer's 128-subword truncation never triggers: asserted), entities kept only when they end inside
the truncated text. Labels keep the data's own case. Batch size 2, no shuffling (the sampler is replaced
by a SequentialSampler), so step i (0-based) trains on examples 2i and 2i+1: 20 steps = exactly one epoch,
every step a different batch.

Fixed class set: each example gets `"ner_labels"` = the sorted union of the gold labels of the two examples in
its batch (so both examples of a batch share one list: required for the bi-encoder, whose label encoder sees
one list per batch). The data collator is the model's own `_create_data_collator()` (what train_model uses),
called as `collator(batch, entity_types=[ex["ner_labels"] for ex in batch])`; with explicit entity_types the
reference maps classes with `make_mapping` (ids 1.. in list order) and draws no random numbers at all
(batch_generate_class_mappings -- random negatives, `random.randint` neg ratio, `random.shuffle` -- is not
called). For the uni-encoder models the script also checks that the reference's default path
(`collator(batch)` reading `ner_labels` itself) yields identical tensors.
Loss masking is "none" (no torch.rand), negatives 1.0: nothing random enters a step.

Relex data (data_relex.json, load_relex_examples): /work/shared/data/re/conll04/conll04_train.json (SpERT)
through scripts/convert_spert.py's convert_record with the types file's verbose labels (Location, Organization,
People, Other; "Work for", "Kill", "Organization based in", "Live in", "Located in"), in file order, each text
truncated to MAX_WORDS_RELEX (16) words -- entities kept when they end inside, relations touching a dropped entity
dropped, indices remapped. A text is kept when it has >= 2 entities, none wider than the models' max_width 4 (so
span and token relex select the same gold entities, and no text has E = 0, whose attention rows the reference fills
with NaN); a text without relations only as the second of a batch whose first has one (no batch has R = 0). The
first 40 kept: 5 relation types, texts with 2 relation types, 4 texts without relations; batches as above.
Each example also gets `"rel_labels"` = the sorted union of its batch's relation labels, and the collator is called
with `relation_types=[ex["rel_labels"] ...]` too (RelationExtractionSpanProcessor.collate_raw_batch: with explicit
types no class sampling and no augmentation). The relation targets still draw random negative pairs
(create_relation_labels: ratio random.uniform(1, 10), pairs random.randint): python's random is seeded with the
step index inside the collator (FixedTypesCollator), so the batches do not depend on the DataLoader worker's
seeding; the stored adj_matrix / rel_matrix make the replay deterministic anyway. The default-path check compares
every tensor but adj_matrix / rel_matrix, and those by their positive (pair, class) triples (its class mapping
draws random.randint first, so its negative pairs differ); single step ("none": no adj_matrix) exactly.

Decoder data (data_decoder.json): data.json's 40 examples truncated to MAX_WORDS_DECODER (16) words instead of 24,
same batches and class lists. The reason is the reference's decoder prefix: its length L0 is the maximum over ALL
rows of the selection, padding rows included, and a padding row (flat index -1) counts every decoder token whose
word number is 0..max_width-1 -- every prompt, special and padding token plus the first 3 words (spec 8.3) -- so
[prefix ; label tokens] is nearly as long as the whole decoder input: at 24 words step 6 needs 129 positions and
GPT-2 (n_positions 128) raises IndexError in wpe. At 16 words every batch fits (<= 105). The collator draws one
random.uniform per batch for blank_entity_prob, which is 0 in both configs: no blank prompt, nothing random.

Trainer settings (TrainingArguments via GLiNER.create_training_args; see info.json "training_args" for the
full dump): optim adamw_torch (torch.optim.AdamW, betas (0.9, 0.999), eps 1e-8, weight decay decoupled,
foreach/fused None -> the single-tensor loop on CPU), learning_rate (encoder groups) 5e-5, weight_decay 0.1,
others_lr 1e-4, others_weight_decay 0.3 -> four groups in this order: [non-encoder decay (others_lr,
others_wd), non-encoder no-decay (others_lr, 0), encoder decay (learning_rate, weight_decay), encoder no-decay
(learning_rate, 0)], "encoder" = name contains "token_rep_layer", "no-decay" = inside an nn.LayerNorm or name
contains "bias". lr_scheduler_type linear, warmup_ratio 0.1 (transformers 5.1 copies it into warmup_steps=0.1
-> ceil(20*0.1) = 2 warm-up steps: multipliers 0, 0.5, then (20-t)/18), max_grad_norm 1.0,
gradient_accumulation_steps 1, per_device_train_batch_size 2, focal_loss_alpha 0.75 / gamma 0 /
prob_margin 0 / label_smoothing 0 (the configs/*.yaml loss values), loss_reduction "sum", negatives 1.0,
masking "none", bf16 False (fp32; train.py passes bf16=True, which on CPU autocasts to bfloat16),
use_cpu True, seed 42, logging_steps 1, no checkpoint saving. dataloader_num_workers is create_training_args'
default 1 (collation runs in a worker process; that only changes where the deterministic collator runs).

Why these rates: the learning rates are the HF default (5e-5) and 2x that for the head, so the two groups
differ; the weight decays are large so that decay is visible in 20 steps (lr*wd*|p| per step). Larger rates
(1e-4/3e-4 and up) drive the bi_span_bert fixture -- whose logits start at |x| ~ 20 -- into the focal loss's
eps clamp (p < 1e-6 for positives): its gradient becomes exactly 0 after a few steps and the run is useless
as a fixture. With these rates every step of every model keeps a gradient norm > 100 (so clipping to 1.0 is
active at every step: the loss is a sum over ~100-300 spans x classes). Per step info.json records
max_abs_logit, n_clamped (loss elements inside the eps clamp, whose gradient is exactly 0) and
min_clamp_distance (closest |logit - clamp threshold| in logit units; >= 0.03 here, far above float noise).
(Relex: these cover the entity logits; the adjacency probabilities and pair logits are not scanned.)

ReLU kinks (relu_kinks, run inside the plain-loop replay; recorded for the relex fixtures, the entity ones predate
it): per step relu_min_margin = the smallest |input| of any ReLU element (nn.ReLU, F.relu, Tensor.relu: the heads'
only kinks; the backbones use GELU) that receives a gradient, and relu_ambiguous = those within RELU_AMBIGUOUS (1e-6)
of 0, whose sign is at fp32 noise level: for each, the module, index, input, incoming gradient and the reference's
total gradient norm with that one derivative flipped (grad_norm_flipped). Found: uni_token_relex_attn step 10,
scorer.out_mlp.2[1,7,2,56], input -6.48e-7: the reference's norm 330.11273, flipped 330.21414 -- and the C replay
lands on the other side there and gets 330.21414 (tests/golden/test_train_parity.c accepts a flipped norm only
for an element listed here, at the same 1e-4). The entity fixtures have such elements too (4-5 each with
|x| < 1e-6 when measured) but none flips in the C replay.

What is recorded (per optimizer step i = 0..19)
------------------------------------------------
* step<i>.<name>: every tensor of the batch the model's forward received (after Trainer._prepare_inputs),
  captured inside Trainer.compute_loss: input_ids, attention_mask, words_mask, text_lengths, labels, and
  span_idx / span_mask (span models), token_type_ids (BERT), labels_input_ids / labels_attention_mask
  (bi-encoder: the label-encoder tokenization of the batch's class list, shape [C, T]). To fit the 400 KB
  budget, integer tensors are stored in the smallest of U8 / I16 / I32 / I64 that holds all their values
  (same dtype for a name across steps; the model got int64, span_mask bool) and labels -- float32 0/1
  targets -- as U8; values are exact. info.json "batch_tensors" lists stored and reference dtypes. The
  Python-list extras token_lengths / word_lengths the collator adds (= attention_mask.sum(-1), text_lengths)
  are not stored.
* relex batches add adj_matrix (B, E, E) (not for relations_layer "none") and rel_matrix (B, P, R), both 0/1
  float32 stored as U8; token relex has span_idx / span_mask = the gold entity spans (B, N, 2) / (B, N) and labels
  (B, W, C, 3). info.json "relex_loss": span/adjacency/relation_loss_coef (model config), rel_focal_loss_alpha /
  _gamma as given (None) and rel_alpha / rel_gamma as Trainer.compute_loss resolved them (= focal alpha / gamma),
  adjacency_threshold 0.5 (the forward's default); per step relation_types and, per example, n_entities, n_pairs,
  n_positive_pairs, n_positive_triples.
* loss [20] F32: the loss tensor compute_loss returned, i.e. exactly the tensor `accelerator.backward` was
  called on (gradient_accumulation_steps == 1: the reference divides by GA only when GA > 1). It is computed
  with the parameters BEFORE that step's optimizer update. It is the model's loss with reduction "sum":
  sum over batch x spans (or words x {start,end,inside} for token level) x classes of the alpha-weighted
  BCE-with-logits, masked by span_mask / text length and by the class mask -- no division by batch size.
* decoder_loss [20] F32 (decoder models): outputs.decoder_loss of that step's forward = L_dec (spec 8.4, sum of the
  label-token cross-entropies); the step loss is decoder_loss_coef (0.5) * L_dec + span_loss_coef (1.0) * L_span.
  info.json "decoder_loss" has the coefficients, the decoder type and its padding_idx. The decoder batches add
  decoder_input_ids / decoder_attention_mask / decoder_words_mask (B, Td) and decoder_labels_ids /
  decoder_labels_mask / decoder_labels (M, Ll): M = the number of positive spans of the batch (one row per span in
  increasing flat index, examples in order), decoder_labels == decoder_labels_ids (pad tokens are targets).
  The teacher-forcing decoder call itself (prefix, targets, per-token cross-entropy, gradient w.r.t. its inputs) is
  dumped once per decoder fixture in tests/fixtures/models/<model>/reference/decoder.safetensors (train.*), see
  tests/fixtures/DECODER_FIXTURES.md.
* grad_norm [20] F32: the value `accelerator.clip_grad_norm_(model.parameters(), 1.0)` returned = total
  L2 norm of all gradients BEFORE clipping (torch.nn.utils.clip_grad_norm_, scale min(1, 1/(norm+1e-6))).
* grad_norm_clipped [20] F32: the same norm recomputed in on_pre_optimizer_step, i.e. after clipping.
* lr [20, 4] F64: param_group["lr"] of the 4 groups read in on_pre_optimizer_step, i.e. the rates the
  optimizer.step() of that step used (the scheduler steps after optimizer.step()).
* final.<param> F32: final values after the 20th update of some parameters: every GLiNER-head parameter
  (outside the HF backbones) with at most FINAL_MAX_NUMEL (128) elements, the head matrices in FINAL_EXTRA
  and the text-backbone tensors in FINAL_BACKBONE (one of each parameter group). info.json
  "final_param_stats" has, for EVERY parameter, [float64 sum, float64 sum of squares, max |final - initial|].
Parameter names are the inner model's state-dict names (the Trainer's GLiNER wrapper adds "model.";
stripped here, as in tests/fixtures/optim/decay.json).

Verification (all asserted): every model is trained twice from a fresh load and all recorded tensors, batches
and final parameters are bit-identical; the per-step loss / grad norm / lr equal the Trainer's own logs
(logging_steps = 1) bit for bit; and a plain loop without the Trainer -- the STORED batches cast back to the
dtypes the model got (token_lengths / word_lengths omitted) -> model(**batch, loss kwargs).loss -> backward ->
torch.nn.utils.clip_grad_norm_ -> torch.optim.AdamW with the four groups -> transformers.get_scheduler
("linear", warm-up ceil(0.1*20)) -- reproduces every loss, grad norm, lr and ALL final parameters bit for bit
(replay_plain_loop): the fixture is complete, and the Trainer adds nothing numerically beyond that loop.

Trainer vs. a plain loop (things a re-implementation must copy)
----------------------------------------------------------------
* Order inside one optimizer step: forward+loss -> backward -> clip_grad_norm_ (over model.parameters();
  parameters whose .grad is None are skipped; coef = max_norm / (total_norm + 1e-6) clamped to 1, all grads
  multiplied by it) -> optimizer.step() -> lr_scheduler.step() -> model.zero_grad().
  So the loss of step i is computed with the weights after i updates, and step 0 runs with lr multiplier 0
  (linear warm-up starts at 0): AdamW still updates exp_avg / exp_avg_sq and its step count (so step 1 uses
  bias corrections for t = 2), and weight decay multiplies by (1 - 0*wd) = 1: parameters do not move at step 0.
* Decoder models: the decoder's parameters (decoder.*, _enc2dec_proj.*) are "others" (no "token_rep_layer" in the
  name): others_lr / others_weight_decay; "no-decay" is only nn.LayerNorm modules and names containing "bias", so
  Llama's RMSNorm weights ARE decayed while GPT-2's LayerNorms are not. The tied lm_head / input embedding is one
  parameter (named ...wte.weight / ...embed_tokens.weight): its gradient is the lookup gradient plus the output
  projection's; Llama's embed_tokens has padding_idx = pad_token_id = 0, so the lookups of token 0 (eos = pad,
  in the label inputs) add nothing to row 0 (the output projection still does).
* Parameters that never get a gradient (info.json "params_without_grad") are skipped by AdamW entirely, weight
  decay included: the BERT poolers, and -- a reference quirk -- the whole BiLSTM of BiEncoderSpan models
  (BiEncoderSpanModel.forward never calls self.rnn although the module exists and is saved).
* Logged loss: transformers adds training_step's return value to tr_loss for every micro-batch and logs
  tr_loss / (optimizer steps since the last log); with GA > 1 training_step divides each micro-batch loss by
  GA before backward and returns that, so the logged value is the mean micro-batch loss averaged over the
  logged optimizer steps (NaN/inf losses are replaced by the running average: logging_nan_inf_filter).
  With GA = 1 and logging_steps = 1 (here) the logged loss equals the step loss bit for bit (asserted).
  The final "train_loss" metric is the mean of all step losses. In transformers 5.1 the logged
  learning_rate is read BEFORE lr_scheduler.step() (= the lr of that update; 4.x logged the next step's).
* num_items_in_batch: the Trainer counts labels != -100 and passes it to training_step; the GLiNER Trainer
  ignores it (the loss is the model's own "sum").
* Parameter groups: create_training_args turns others_lr=0 / others_weight_decay=0 into learning_rate /
  weight_decay (`or`), so a real zero head decay is impossible through it; the encoder groups carry no "lr"
  key and inherit the optimizer default lr = learning_rate.
* The bi-encoder span loss passes label_smoothing positionally into _loss's prob_margin slot (and drops
  prob_margin); the token-level loss ignores `masking`. Both are inert with the zeros used here.
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":  # set iteration order must not depend on hash randomisation
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("ACCELERATE_USE_CPU", "1")

import argparse
import copy
import json
import math
import random
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.overrides

warnings.filterwarnings("ignore")
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True, warn_only=True)

import accelerate  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torch.utils.data import SequentialSampler  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

import gliner  # noqa: E402
from gliner import GLiNER  # noqa: E402
from gliner.training import Trainer  # noqa: E402

transformers.logging.set_verbosity_error()

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data/gliner_train_sample/sample_data.json")
MODELS = ["uni_span_deberta_markerV0", "uni_span_bert_markerV0", "uni_token_deberta", "bi_span_bert"]
# relex models (data_relex.json): adjacency layer + pair_rep_layer, single step ("none"), weightless triples modes
# on the dot / bilinear adjacency, token relex with the attention adjacency
RELEX_MODELS = ["uni_span_relex_mlp", "uni_span_relex_none", "uni_span_relex_triples_DistMult",
                "uni_span_relex_triples_TransE", "uni_token_relex_attn"]
# generative label decoders (spec 8; data.json): GPT-2 (full decoder context, D = Dd = 32) and a tiny Llama (GQA,
# RoPE, RMSNorm, SiLU MLP, tied head, padding_idx 0; full context, D = 16 -> _enc2dec_proj)
DECODER_MODELS = ["uni_span_decoder_gpt2", "uni_span_decoder_llama"]
RELEX_DATA = Path("/work/shared/data/re/conll04/conll04_train.json")
RELEX_TYPES = Path("/work/shared/data/re/conll04/conll04_types.json")
N_EXAMPLES = 40
MAX_WORDS = 24
MAX_WORDS_RELEX = 16
# decoder models: the training prefix length L0 is set by the padding rows (every prompt / special / padding token
# of the decoder input + the first max_width - 1 words, spec 8.3), so [prefix ; label tokens] nearly spans the
# whole decoder input: at 24 words batch 6 needs 129 positions and GPT-2 (n_positions 128) fails in wpe
# (IndexError) -- 16 words keep every batch <= 105
MAX_WORDS_DECODER = 16
RELEX_MAX_WIDTH = 4  # max_width of every relex fixture model (asserted): longer entities are not selected
BATCH = 2
STEPS = 20
FINAL_MAX_NUMEL = 128  # every GLiNER-head parameter this small (biases, ...) is stored in full
BACKBONES = ("token_rep_layer.bert_layer.", "token_rep_layer.labels_encoder.")
# from the backbone(s): these (name suffixes; text encoder only) -- encoder group, decay and no-decay
FINAL_BACKBONE = ["embeddings.LayerNorm.weight", "encoder.layer.1.output.LayerNorm.bias",
                  "encoder.layer.1.attention.output.dense.weight", "encoder.layer.1.attention.output.dense.bias"]
# plus these larger ones when the model has them (a head matrix, an LSTM matrix, a backbone matrix)
FINAL_EXTRA = [
    "rnn.lstm.weight_hh_l0",  # non-encoder, decay
    "scorer.out_mlp.3.weight",  # token-level scorer, non-encoder, decay
    "token_rep_layer.labels_projection.weight",  # bi-encoder, encoder group, decay
    "relations_rep_layer.relation_rep_layer.mlp.0.weight",  # relex adjacency heads (where L_adj enters)
    "relations_rep_layer.relation_rep_layer.proj.weight",
    "relations_rep_layer.relation_rep_layer.attn.in_proj_weight",
    "pair_rep_layer.0.weight",  # relex pair head (where L_rel enters)
    "_enc2dec_proj.0.weight",  # decoder models with D != Dd
    "decoder.decoder_layer.model.transformer.wte.weight",  # GPT-2: tied with lm_head (lookup + output grads)
    "decoder.decoder_layer.model.transformer.h.1.attn.c_attn.weight",
    "decoder.decoder_layer.model.model.embed_tokens.weight",  # Llama: tied with lm_head, padding_idx row 0
    "decoder.decoder_layer.model.model.layers.1.self_attn.k_proj.weight",  # grouped-query: (2 heads x 8, 32)
    "decoder.decoder_layer.model.model.layers.1.mlp.gate_proj.weight",
]

HPARAMS = dict(
    learning_rate=5e-5,
    weight_decay=0.1,
    others_lr=1e-4,
    others_weight_decay=0.3,
    focal_loss_alpha=0.75,
    focal_loss_gamma=0.0,
    focal_loss_prob_margin=0.0,
    loss_reduction="sum",
    negatives=1.0,
    masking="none",
    lr_scheduler_type="linear",
    warmup_ratio=0.1,
    per_device_train_batch_size=BATCH,
    per_device_eval_batch_size=BATCH,
    max_grad_norm=1.0,
    max_steps=STEPS,
    save_steps=1000,
    logging_steps=1,
    use_cpu=True,
    bf16=False,
    report_to="none",
    # beyond create_training_args' own parameters (passed through **kwargs):
    gradient_accumulation_steps=1,
    seed=42,
    save_strategy="no",
    disable_tqdm=True,
)

VERSIONS = {
    "gliner": gliner.__version__,
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "accelerate": accelerate.__version__,
    "tokenizers": tokenizers.__version__,
    "numpy": np.__version__,
    "python": sys.version.split()[0],
    "torch_num_threads": torch.get_num_threads(),
}


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def strip(name):
    return name[len("model."):] if name.startswith("model.") else name


def load_examples(max_words=None):
    max_words = MAX_WORDS if max_words is None else max_words
    raw = json.load(open(DATA, encoding="utf-8"))[:N_EXAMPLES]
    out = []
    for ex in raw:
        words = list(ex["tokenized_text"][:max_words])
        ner = [[int(s), int(e), str(lab)] for s, e, lab in ex["ner"] if int(e) < len(words)]
        out.append({"tokenized_text": words, "ner": ner})
    for b in range(0, len(out), BATCH):
        group = out[b:b + BATCH]
        types = sorted({lab for ex in group for _, _, lab in ex["ner"]})
        for ex in group:
            ex["ner_labels"] = list(types)
    return out


def load_relex_examples():
    """CoNLL04 train (SpERT) through scripts/convert_spert.py's record converter (verbose labels: Location, People,
    ...; "Work for", "Located in", ...) in file order; each text truncated to MAX_WORDS_RELEX words, entities kept
    when they end inside (relations touching a dropped entity dropped, indices remapped). Kept: texts with >= 2
    entities, none wider than RELEX_MAX_WIDTH words (so span and token relex select the same gold entities and no
    example has E = 0, whose attention rows the reference fills with NaN), and -- so that no batch has R = 0 -- a
    text without relations only as the second of a batch whose first has one. The first 40 kept."""
    import convert_spert

    types = convert_spert.load_types(str(RELEX_TYPES), "verbose", False)
    out = []
    for r in json.load(open(RELEX_DATA, encoding="utf-8")):
        ex = convert_spert.convert_record(r, types)
        words = ex["tokenized_text"][:MAX_WORDS_RELEX]
        keep = [k for k, (_, e, _) in enumerate(ex["ner"]) if e < len(words)]
        new_idx = {old: k for k, old in enumerate(keep)}
        ner = [list(ex["ner"][k]) for k in keep]
        rels = [[new_idx[h], new_idx[t], lab] for h, t, lab in ex["relations"] if h in new_idx and t in new_idx]
        if len(ner) < 2 or any(e - s >= RELEX_MAX_WIDTH for s, e, _ in ner):
            continue
        if not rels and (len(out) % BATCH == 0 or not out[-1]["relations"]):
            continue
        out.append({"tokenized_text": words, "ner": ner, "relations": rels})
        if len(out) == N_EXAMPLES:
            break
    for b in range(0, len(out), BATCH):
        group = out[b:b + BATCH]
        types_e = sorted({lab for ex in group for _, _, lab in ex["ner"]})
        types_r = sorted({lab for ex in group for _, _, lab in ex["relations"]})
        for ex in group:
            ex["ner_labels"] = list(types_e)
            ex["rel_labels"] = list(types_r)
    # what the fixture is meant to cover
    assert len(out) == N_EXAMPLES
    assert len({lab for ex in out for *_, lab in ex["relations"]}) >= 3, "several relation types"
    assert any(len({lab for *_, lab in ex["relations"]}) >= 2 for ex in out), "an example with 2+ relation types"
    assert any(not ex["relations"] for ex in out), "an example without relations"
    assert all(ex["rel_labels"] for ex in out), "a batch without relation classes (R = 0)"
    return out


@torch.no_grad()
def logit_stats(inputs, outputs):
    """max |logit| over the elements that enter the loss, and how many of them sit in the focal loss's eps
    clamp (p < 1e-6 for a positive target, 1 - p < 1e-6 for a negative one: zero gradient there)."""
    lg = outputs.logits.detach().float()
    labels = inputs["labels"].float()
    cmask = outputs.prompts_embedding_mask.detach().bool()  # (B, C)
    B, C = cmask.shape
    if lg.shape == labels.shape:  # token level (B, W, C, 3) (token relex also has span_mask: its gold spans)
        W = lg.shape[1]
        wmask = torch.arange(W).view(1, W) < inputs["text_lengths"].view(-1, 1).cpu()
        valid = wmask.view(B, W, 1, 1) & cmask.view(B, 1, C, 1)
    else:  # span level (B, L, K, C)
        smask = inputs["span_mask"].bool().view(B, -1)
        lg = lg.view(B, -1, lg.shape[-1])
        labels = labels.view(B, -1, labels.shape[-1])
        valid = smask.view(B, -1, 1) & cmask.view(B, 1, C)
    valid = valid.expand_as(lg)
    p = torch.sigmoid(lg)
    clamped = ((labels > 0.5) & (p < 1e-6)) | ((labels < 0.5) & ((1.0 - p) < 1e-6))
    thr = math.log(1e-6 / (1.0 - 1e-6))  # logit where p == 1e-6 (-13.8155); 1 - p == 1e-6 at -thr
    dist = torch.where(labels > 0.5, (lg - thr).abs(), (-thr - lg).abs())
    return {"max_abs_logit": round(float(lg[valid].abs().max()), 6), "n_clamped": int((clamped & valid).sum()),
            "min_clamp_distance": round(float(dist[valid].min()), 6), "n_loss_elements": int(valid.sum())}


class FixedTypesCollator:
    """The model's own training collator, called with the batch's fixed class list (relex: and relation list).

    Relex: create_relation_labels draws the negative pairs with python's random (random.uniform ratio,
    random.randint pairs); relex_seeds maps a batch's first text to its step, and python's random is seeded
    with that step before collating, so the batch does not depend on the DataLoader worker's seeding."""

    def __init__(self, collator, relex_seeds=None):
        self.collator = collator
        self.relex_seeds = relex_seeds

    def __call__(self, batch):
        if self.relex_seeds is None:
            return self.collator(batch, entity_types=[list(ex["ner_labels"]) for ex in batch])
        random.seed(self.relex_seeds[tuple(batch[0]["tokenized_text"])])
        return self.collator(batch, entity_types=[list(ex["ner_labels"]) for ex in batch],
                             relation_types=[list(ex["rel_labels"]) for ex in batch])


class RecordingTrainer(Trainer):
    """gliner.training.Trainer with a sequential sampler; records what compute_loss saw and returned."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.rec_batches, self.rec_losses, self.rec_logit_stats, self.rec_decoder_losses = [], [], [], []

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        if model.training:
            self.rec_batches.append(
                {k: v.detach().cpu().clone() for k, v in inputs.items() if isinstance(v, torch.Tensor)}
            )
            self.rec_losses.append(loss.detach().cpu().clone())
            self.rec_logit_stats.append(logit_stats(inputs, outputs))
            dl = getattr(outputs, "decoder_loss", None)
            if dl is not None:
                self.rec_decoder_losses.append(dl.detach().cpu().clone())
        return (loss, outputs) if return_outputs else loss


class StepRecorder(TrainerCallback):
    def __init__(self):
        self.lrs, self.clipped_norms, self.logs, self.no_grad = [], [], [], None

    def on_pre_optimizer_step(self, args, state, control, **kw):
        opt = kw["optimizer"]
        self.lrs.append([float(g["lr"]) for g in opt.param_groups])
        model = kw["model"]
        if self.no_grad is None:
            self.no_grad = [strip(n) for n, p in model.named_parameters() if p.grad is None]
        grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
        self.clipped_norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.logs.append({"step": state.global_step, **{k: logs[k] for k in ("loss", "grad_norm", "learning_rate") if k in logs}})


def is_decoder(model):
    return getattr(model.config, "labels_decoder", None) is not None


def decoder_loss_info(model):
    """The decoder models' loss (spec 6.5 / 8.4) and what the training batches hold for it."""
    cfg, hf = model.config, model.model.decoder.decoder_layer.model
    return {
        "decoder_model_type": hf.config.model_type,
        "full_decoder_context": cfg.full_decoder_context,
        "decoder_loss_coef": cfg.decoder_loss_coef,
        "span_loss_coef": cfg.span_loss_coef,
        "blank_entity_prob": cfg.blank_entity_prob,
        "decoder_padding_idx": getattr(hf.get_input_embeddings(), "padding_idx", None),
        "note": "loss = decoder_loss_coef * L_dec + span_loss_coef * L_span; L_span as the span models (alpha 0.75, "
                "sum), L_dec = cross-entropy summed over the label tokens (targets = decoder_labels, pad tokens "
                "included: the reference's -100 masking is a no-op) of the decoder run on [span prefix ; label "
                "embeddings] (spec 8.4); the per-step L_dec is the tensor decoder_loss [20]. blank_entity_prob 0: "
                "no random blank prompt. Batches add decoder_input_ids / decoder_attention_mask / "
                "decoder_words_mask (full context) and decoder_labels_ids / decoder_labels_mask / decoder_labels "
                "(M, Ll). The decoder parameters are in the non-encoder ('others') groups; Llama's RMSNorm weights "
                "are NOT no-decay (only nn.LayerNorm modules and names with 'bias' are), GPT-2's LayerNorms are. "
                "Tied weights (lm_head = the input embedding) are one parameter under the embedding's name.",
    }


def is_relex(model):
    return getattr(model.config, "relations_layer", None) is not None


def check_dropouts(model):
    found = []
    for n, m in model.named_modules():
        if isinstance(m, torch.nn.Dropout) or "dropout" in type(m).__name__.lower():
            p = float(getattr(m, "p", getattr(m, "drop_prob", 0.0)))
            found.append((n, p))
            assert p == 0.0, f"dropout {n} has p={p}"
        elif isinstance(m, torch.nn.MultiheadAttention):  # relex attention / gat: a float attribute, no module
            found.append((n, float(m.dropout)))
            assert m.dropout == 0.0, f"attention dropout {n} has p={m.dropout}"
    return len(found)


def run_once(model_dir, examples, out_tmp):
    seed_all(0)
    model = GLiNER.from_pretrained(str(model_dir), local_files_only=True).to(dtype=torch.float32)
    assert not is_relex(model) or model.config.max_width == RELEX_MAX_WIDTH, "data_relex.json assumes max_width 4"
    n_dropout = check_dropouts(model)
    init = {strip(n): p.detach().clone() for n, p in model.named_parameters()}
    args = type(model).create_training_args(output_dir=str(out_tmp), **HPARAMS)
    base_collator = model._create_data_collator()
    relex_seeds = None
    if is_relex(model):  # python's random seeded per batch with its step (FixedTypesCollator)
        relex_seeds = {tuple(examples[j]["tokenized_text"]): j // BATCH for j in range(0, len(examples), BATCH)}
        assert len(relex_seeds) == len(examples) // BATCH, "two batches start with the same text"
    collator = FixedTypesCollator(base_collator, relex_seeds)
    rec = StepRecorder()
    trainer = RecordingTrainer(
        model=model,
        args=args,
        train_dataset=examples,
        data_collator=collator,
        processing_class=model.data_processor.transformer_tokenizer,
        callbacks=[rec],
    )
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    norms = []
    orig_clip = trainer.accelerator.clip_grad_norm_

    def clip_and_record(parameters, max_norm, *a, **kw):
        n = orig_clip(parameters, max_norm, *a, **kw)
        norms.append(n.detach().cpu().clone() if isinstance(n, torch.Tensor) else torch.tensor(float(n)))
        return n

    trainer.accelerator.clip_grad_norm_ = clip_and_record
    out = trainer.train()
    assert len(trainer.rec_losses) == STEPS and len(norms) == STEPS and len(rec.lrs) == STEPS, (
        len(trainer.rec_losses), len(norms), len(rec.lrs))
    opt = trainer.optimizer
    id2name = {id(p): strip(n) for n, p in model.named_parameters()}
    groups = []
    for gi, g in enumerate(opt.param_groups):
        groups.append({
            "group": ["others_decay", "others_no_decay", "encoder_decay", "encoder_no_decay"][gi],
            "lr_base": float(g.get("initial_lr", g["lr"])),
            "weight_decay": float(g["weight_decay"]),
            "num_params": len(g["params"]),
            "num_elements": int(sum(p.numel() for p in g["params"])),
        })
        if g["weight_decay"] == 0.0:  # the decay groups are "all the others" (see tests/fixtures/optim/decay.json)
            groups[-1]["names"] = [id2name[id(p)] for p in g["params"]]
    opt_info = {
        "class": f"{type(opt.optimizer if hasattr(opt, 'optimizer') else opt).__module__}."
        f"{type(opt.optimizer if hasattr(opt, 'optimizer') else opt).__name__}",
        "defaults": {k: (list(v) if isinstance(v, tuple) else v) for k, v in opt.defaults.items()
                     if isinstance(v, (int, float, bool, str, tuple, type(None)))},
        "groups": groups,
        "scheduler": type(trainer.lr_scheduler).__name__,
        "warmup_steps": args.get_warmup_steps(STEPS),
    }
    final = {strip(n): p.detach().cpu().clone() for n, p in model.named_parameters()}
    return {
        "batches": trainer.rec_batches,
        "losses": trainer.rec_losses,
        "decoder_losses": trainer.rec_decoder_losses,
        "logit_stats": trainer.rec_logit_stats,
        "norms": norms,
        "clipped_norms": rec.clipped_norms,
        "lrs": rec.lrs,
        "logs": rec.logs,
        "no_grad": rec.no_grad,
        "init": init,
        "final": final,
        "args": args,
        "optimizer": opt_info,
        "train_output": {k: v for k, v in out.metrics.items() if "runtime" not in k and "per_second" not in k},
        "model": model,
        "base_collator": base_collator,
        "n_dropout_modules": n_dropout,
    }


def storage_dtype(values):
    """Smallest of U8 / I16 / I32 / I64 that holds every value (the fixture budget is 400 KB)."""
    lo = min(int(v.min()) for v in values if v.numel())
    hi = max(int(v.max()) for v in values if v.numel())
    for dt, a, b in [(torch.uint8, 0, 255), (torch.int16, -32768, 32767), (torch.int32, -(2 ** 31), 2 ** 31 - 1)]:
        if a <= lo and hi <= b:
            return dt
    return torch.int64


def tensors_of(r):
    t = {}
    names = sorted({k for b in r["batches"] for k in b})
    dtypes = {}
    for k in names:
        vals = [b[k] for b in r["batches"] if k in b]
        if k in ("labels", "adj_matrix", "rel_matrix"):  # float32 0/1 targets: stored exactly as U8
            assert all(set(torch.unique(v).tolist()) <= {0.0, 1.0} for v in vals), k
            dtypes[k] = torch.uint8
        elif vals[0].is_floating_point():
            dtypes[k] = torch.float32
        else:
            dtypes[k] = storage_dtype([v.to(torch.int64) for v in vals])
    for i, b in enumerate(r["batches"]):
        for k, v in b.items():
            t[f"step{i}.{k}"] = v.to(dtypes[k]).contiguous()
    t["loss"] = torch.stack([x.reshape(()) for x in r["losses"]]).to(torch.float32)
    if r["decoder_losses"]:
        assert len(r["decoder_losses"]) == len(r["losses"])
        t["decoder_loss"] = torch.stack([x.reshape(()) for x in r["decoder_losses"]]).to(torch.float32)
    t["grad_norm"] = torch.stack([x.reshape(()) for x in r["norms"]]).to(torch.float32)
    t["grad_norm_clipped"] = torch.stack([x.reshape(()) for x in r["clipped_norms"]]).to(torch.float32)
    t["lr"] = torch.tensor(r["lrs"], dtype=torch.float64)
    for n, v in r["final"].items():
        in_backbone = n.startswith(BACKBONES)
        if (not in_backbone and (v.numel() <= FINAL_MAX_NUMEL or n in FINAL_EXTRA)) or (
                n.startswith(BACKBONES[0]) and any(n.endswith(x) for x in FINAL_BACKBONE)):
            t[f"final.{n}"] = v.detach().cpu().to(torch.float32).contiguous()
    return t


def identical(a, b):
    if sorted(a) != sorted(b):
        return False
    return all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


def jsonable_args(args):
    d = args.to_dict()
    out = {}
    for k, v in sorted(d.items()):
        if k in ("output_dir", "logging_dir") or k.startswith("_"):
            continue
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (int, float, str, bool)) for x in v):
            out[k] = list(v)
        else:
            out[k] = str(v)
    return out


def rel_focal(args):
    """(rel_alpha, rel_gamma) as gliner.training.Trainer.compute_loss resolves them: rel_focal_loss_alpha / _gamma,
    None -> focal_loss_alpha / _gamma."""
    a = args.rel_focal_loss_alpha if args.rel_focal_loss_alpha is not None else args.focal_loss_alpha
    g = args.rel_focal_loss_gamma if args.rel_focal_loss_gamma is not None else args.focal_loss_gamma
    return a, g


RELU_FUNCS = {torch.nn.functional.relu, torch.relu, torch.Tensor.relu}
RELU_AMBIGUOUS = 1e-6  # |ReLU input| below this: its sign is at fp32 noise level (about 8 ulp of 1)


class _FlippedRelu(torch.autograd.Function):
    """relu(x) with the derivative at flat index idx taken from the other side of the kink."""

    @staticmethod
    def forward(ctx, x, idx):
        ctx.save_for_backward(x)
        ctx.idx = idx
        return torch.relu(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        pos = (x > 0).reshape(-1).clone()
        pos[ctx.idx] = ~pos[ctx.idx]
        return torch.where(pos.view_as(x), g, torch.zeros_like(g)), None


class ReluKinks(torch.overrides.TorchFunctionMode):
    """Records every ReLU the forward runs (nn.ReLU, F.relu, Tensor.relu: the GLiNER heads' only kinks besides
    the loss clamps; the backbones use GELU): its input, the module it runs in and, after backward, the gradient
    arriving at its output. flip = (call, flat index): that element's derivative is taken from the other side of
    the kink; forward values are unchanged (relu is exact)."""

    def __init__(self, model, flip=None):
        super().__init__()
        self.calls, self.flip, self.stack = [], flip, []
        self.hooks = []
        for n, m in model.named_modules():
            self.hooks.append(m.register_forward_pre_hook(lambda mod, inp, n=n: self.stack.append(n)))
            self.hooks.append(m.register_forward_hook(lambda mod, inp, out: [self.stack.pop(), None][1]))

    def remove(self):
        for h in self.hooks:
            h.remove()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in RELU_FUNCS or not args[0].requires_grad:
            return func(*args, **kwargs)
        k = len(self.calls)
        if self.flip is not None and self.flip[0] == k:
            out = _FlippedRelu.apply(args[0], self.flip[1])
        else:
            out = func(*args, **kwargs)
        rec = {"module": strip(self.stack[-1]) if self.stack else "", "x": args[0].detach().clone(), "g": None}
        self.calls.append(rec)
        out.register_hook(lambda g, rec=rec: rec.__setitem__("g", g.detach().clone()))
        return out


def relu_kinks(model, forward):
    """loss = forward() with every ReLU recorded, then backward. Returns (loss, min |ReLU input| over the elements
    that receive a gradient, the ambiguous ones (|x| < RELU_AMBIGUOUS, gradient != 0): for each, the total gradient
    norm the reference gets with that one element's ReLU derivative flipped -- what a re-implementation whose fp32
    sum lands on the other side of 0 there computes). The parameter gradients left are those of the plain backward."""
    mode = ReluKinks(model)
    with mode:
        loss = forward()
    loss.backward()
    mode.remove()
    margin, amb = math.inf, []
    for k, c in enumerate(mode.calls):
        if c["g"] is None or not bool((c["g"] != 0).any()):
            continue
        live = c["g"] != 0
        margin = min(margin, float(c["x"].abs()[live].min()))
        for j in ((c["x"].abs() < RELU_AMBIGUOUS) & live).reshape(-1).nonzero().view(-1).tolist():
            amb.append({"module": c["module"], "call": k, "shape": list(c["x"].shape),
                        "index": [int(v) for v in np.unravel_index(j, tuple(c["x"].shape))], "flat": j,
                        "x": float(c["x"].reshape(-1)[j]), "grad_out": float(c["g"].reshape(-1)[j])})
    if amb:
        saved = [(p, p.grad) for p in model.parameters()]
        for a in amb:
            model.zero_grad(set_to_none=True)
            fm = ReluKinks(model, flip=(a["call"], a["flat"]))
            with fm:
                l2 = forward()
            l2.backward()
            fm.remove()
            assert torch.equal(l2, loss), "a flipped derivative changed the forward"
            n2 = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
            a["grad_norm_flipped"] = float(n2)
            del a["flat"]
        for p, g in saved:
            p.grad = g
    return loss, (None if margin == math.inf else margin), amb


def replay_plain_loop(model_dir, t, batch_dtypes, rel_alpha, rel_gamma):
    """Independent replay without the Trainer: the stored batches (cast back to the dtypes the model got;
    token_lengths / word_lengths left out) through model(**batch, loss kwargs) -> backward ->
    clip_grad_norm_ -> torch.optim.AdamW with the four groups built here -> transformers.get_scheduler.
    Returns per-step losses, norms, lrs, ReLU kink statistics (relu_kinks) and the final parameters."""
    from transformers import get_scheduler
    from transformers.trainer_pt_utils import get_parameter_names

    seed_all(0)
    model = GLiNER.from_pretrained(str(model_dir), local_files_only=True).to(dtype=torch.float32)
    hp = HPARAMS
    decay = [n for n in get_parameter_names(model, [torch.nn.LayerNorm]) if "bias" not in n]
    named = list(model.named_parameters())
    enc = {n for n, _ in named if "token_rep_layer" in n}
    sel = lambda d, e: [p for n, p in named if (n in decay) == d and (n in enc) == e]  # noqa: E731
    groups = [
        {"params": sel(True, False), "weight_decay": hp["others_weight_decay"], "lr": hp["others_lr"]},
        {"params": sel(False, False), "weight_decay": 0.0, "lr": hp["others_lr"]},
        {"params": sel(True, True), "weight_decay": hp["weight_decay"]},
        {"params": sel(False, True), "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=hp["learning_rate"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=hp["weight_decay"])
    sch = get_scheduler("linear", opt, num_warmup_steps=math.ceil(STEPS * hp["warmup_ratio"]),
                        num_training_steps=STEPS)
    model.train()
    losses, norms, lrs, kinks = [], [], [], []
    for i in range(STEPS):
        batch = {k: t[f"step{i}.{k}"].to(dt) for k, dt in batch_dtypes.items() if f"step{i}.{k}" in t}
        loss, margin, amb = relu_kinks(model, lambda: model(
            **batch, alpha=hp["focal_loss_alpha"], gamma=hp["focal_loss_gamma"], rel_alpha=rel_alpha,
            rel_gamma=rel_gamma, prob_margin=hp["focal_loss_prob_margin"], label_smoothing=0.0,
            reduction=hp["loss_reduction"], negatives=hp["negatives"], masking=hp["masking"]).loss)
        kinks.append({"relu_min_margin": margin, "relu_ambiguous": amb})
        norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), hp["max_grad_norm"]).detach().clone())
        lrs.append([float(g["lr"]) for g in opt.param_groups])
        losses.append(loss.detach().clone())
        opt.step()
        sch.step()
        model.zero_grad()
    final = {strip(n): p.detach().clone() for n, p in model.named_parameters()}
    return losses, norms, lrs, kinks, final


def dump_json(path, obj):
    """indent=1, but lists of scalars on one line."""
    txt = json.dumps(obj, ensure_ascii=False, indent=1)
    txt = re.sub(r"\[\s*([^\[\]{}]*?)\s*\]", lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", txt)
    with open(path, "w", encoding="utf-8") as f:
        f.write(txt + "\n")


def relex_pairs(b):
    """Per example the pairs (head, tail) the rows of rel_matrix stand for (spec 7.7): with an adjacency the gold
    adj_matrix's ones in row-major order (= the sorted positives + negatives); single step: all ordered pairs of
    the n gold entities, i != j, row-major."""
    B = b["rel_matrix"].shape[0]
    if "adj_matrix" in b:
        return [[tuple(x) for x in (b["adj_matrix"][e] > 0.5).nonzero().tolist()] for e in range(B)]
    out = []
    for n in relex_entity_counts(b):
        out.append([(h, t) for h in range(n) for t in range(n) if h != t])
    return out


def relex_entity_counts(b):
    """Gold entities per example: span relex the span rows with a positive label, token relex the gold spans."""
    if b["labels"].dim() == 4:  # token level: labels (B, W, C, 3), span_idx / span_mask (B, N, 2) / (B, N)
        return [int(x) for x in b["span_mask"].sum(-1)]
    B = b["labels"].shape[0]
    return [int(x) for x in (b["labels"].view(B, -1, b["labels"].shape[-1]).amax(-1) == 1).sum(-1)]


def relex_positives(b):
    """{(example, head, tail, class)} of the relation targets; rows past an example's pairs must be empty."""
    out = set()
    for e, pairs in enumerate(relex_pairs(b)):
        rel = b["rel_matrix"][e]
        assert int(rel[len(pairs):].sum()) == 0
        for p, (h, t) in enumerate(pairs[:rel.shape[0]]):
            out |= {(e, h, t, c) for c in rel[p].nonzero().view(-1).tolist()}
    return out


def relex_step_info(b, exs):
    pairs = relex_pairs(b)
    pos = relex_positives(b)
    return {
        "relation_types": exs[0]["rel_labels"],
        "n_entities": relex_entity_counts(b),
        "n_pairs": [len(p) for p in pairs],
        "n_positive_pairs": [len({(h, t) for e2, h, t, _ in pos if e2 == e}) for e in range(len(pairs))],
        "n_positive_triples": [sum(1 for x in pos if x[0] == e) for e in range(len(pairs))],
    }


def relex_loss_info(args, cfg):
    """The relex loss' hyper-parameters the reference used (spec 6.6): the coefficients from the model config,
    rel_alpha / rel_gamma as the Trainer resolved them, the forward's default adjacency_threshold."""
    rel_alpha, rel_gamma = rel_focal(args)
    return {
        "relations_layer": cfg.relations_layer,
        "triples_layer": getattr(cfg, "triples_layer", None),
        "span_loss_coef": cfg.span_loss_coef,
        "adjacency_loss_coef": cfg.adjacency_loss_coef,
        "relation_loss_coef": cfg.relation_loss_coef,
        "rel_focal_loss_alpha": args.rel_focal_loss_alpha,
        "rel_focal_loss_gamma": args.rel_focal_loss_gamma,
        "rel_alpha": rel_alpha,
        "rel_gamma": rel_gamma,
        "adjacency_threshold": 0.5,
        "note": "loss = span_loss_coef L_ent + adjacency_loss_coef L_adj + relation_loss_coef L_rel (no L_adj for "
                "relations_layer 'none'); L_adj and L_rel use rel_alpha / rel_gamma (rel_focal_loss_* as given, None "
                "-> focal_loss_alpha / _gamma, as Trainer.compute_loss); the pairs come from the gold adj_matrix "
                "(> adjacency_threshold, the forward's default) in training",
    }


def build(name, examples, out_root, data_name="data.json"):
    model_dir = ROOT / "tests" / "fixtures" / "models" / name
    with tempfile.TemporaryDirectory() as tmp:
        r1 = run_once(model_dir, examples, Path(tmp) / "a")
        r2 = run_once(model_dir, examples, Path(tmp) / "b")
    t1, t2 = tensors_of(r1), tensors_of(r2)
    assert identical(t1, t2), f"{name}: two runs differ"
    full1 = {f"final_all.{k}": v for k, v in r1["final"].items()}
    full2 = {f"final_all.{k}": v for k, v in r2["final"].items()}
    assert identical(full1, full2), f"{name}: final parameters of two runs differ"
    b1 = {f"{i}.{k}": v for i, b in enumerate(r1["batches"]) for k, v in b.items()}
    b2 = {f"{i}.{k}": v for i, b in enumerate(r2["batches"]) for k, v in b.items()}
    assert identical(b1, b2), f"{name}: batches of two runs differ"
    # a plain loop on the STORED batches reproduces the Trainer bit for bit (the fixture is complete)
    batch_dtypes = {k: v.dtype for k, v in r1["batches"][0].items()}
    rel_alpha, rel_gamma = rel_focal(r1["args"])
    p_losses, p_norms, p_lrs, p_kinks, p_final = replay_plain_loop(model_dir, t1, batch_dtypes, rel_alpha, rel_gamma)
    assert all(torch.equal(a.reshape(()), b.reshape(())) for a, b in zip(p_losses, r1["losses"])), (name, "replay loss")
    assert all(torch.equal(a.reshape(()), b.reshape(())) for a, b in zip(p_norms, r1["norms"])), (name, "replay norm")
    assert p_lrs == r1["lrs"], (name, "replay lr")
    assert all(torch.equal(p_final[k], v) for k, v in r1["final"].items()), (name, "replay final params")
    assert len(r1["logs"]) == STEPS
    for i, lg in enumerate(r1["logs"]):  # the Trainer's own log == what compute_loss returned
        assert lg["step"] == i + 1
        assert lg["loss"] == float(r1["losses"][i]), (name, i, lg["loss"], float(r1["losses"][i]))
        assert lg["grad_norm"] == float(r1["norms"][i]), (name, i)
        assert lg["learning_rate"] == r1["lrs"][i][0], (name, i)
    # the collated batches must hold every word (no subword truncation) and match the examples
    steps_info = []
    for i, b in enumerate(r1["batches"]):
        idx = list(range(i * BATCH, (i + 1) * BATCH))
        exs = [examples[j] for j in idx]
        wl = [len(e["tokenized_text"]) for e in exs]
        assert b["text_lengths"].view(-1).tolist() == wl, (name, i)
        assert [int(b["words_mask"][k].max()) for k in range(len(exs))] == wl, (name, i, "subword truncation")
        # uni-encoder: the reference's default collation (reading "ner_labels" / "rel_labels" itself) gives the
        # same batch; relex: its class mapping draws random.randint first, so the sampled negative pairs differ
        # there: adj_matrix / rel_matrix are compared by their positive (pair, class) triples only
        relex = "rel_matrix" in b
        if "labels_input_ids" not in b:
            seed_all(i)
            plain = r1["base_collator"](copy.deepcopy(exs))
            for k, v in b.items():
                if relex and "adj_matrix" in b and k in ("adj_matrix", "rel_matrix"):
                    continue
                assert torch.equal(plain[k].cpu(), v), (name, i, k, "default collation differs")
            if relex and "adj_matrix" in b:
                assert relex_positives(plain) == relex_positives(b), (name, i, "default collation differs")
        extra = relex_step_info(b, exs) if relex else {}
        steps_info.append({
            "step": i,
            "examples": idx,
            "entity_types": exs[0]["ner_labels"],
            **extra,
            "loss": float(r1["losses"][i]),
            "grad_norm": float(r1["norms"][i]),
            "lr": r1["lrs"][i],
            **r1["logit_stats"][i],
            **p_kinks[i],
        })
    init, final = r1["init"], r1["final"]
    stats = {}
    for n, v in final.items():
        v64 = v.to(torch.float64)
        stats[n] = [float(f"{x:.10g}") for x in (v64.sum(), (v64 * v64).sum(), (v - init[n]).abs().max())]
    b0 = r1["batches"][0]
    batch_tensors = {
        k: {"stored": str(t1[f"step0.{k}"].dtype).replace("torch.", ""),
            "reference": str(b0[k].dtype).replace("torch.", ""),
            "step0_shape": list(b0[k].shape)}
        for k in sorted(b0)
    }
    model = r1["model"]
    cfg = model.config
    info = {
        "generator": "scripts/make_train_fixtures.py",
        "command": "/work/venv/bin/python scripts/make_train_fixtures.py",
        "reference": "urchade/GLiNER 0.2.27 (gliner.training.Trainer + GLiNER.create_training_args)",
        "versions": VERSIONS,
        "model": name,
        "class": type(model).__name__,
        "start_point": os.path.relpath(model_dir, ROOT),
        "start_point_note": "GLiNER.from_pretrained(start_point, local_files_only=True).to(float32); weights not copied",
        "data": f"../{data_name} (examples[i]; step s uses examples 2s, 2s+1; entity types = examples[*].ner_labels"
                + ("; relation types = examples[*].rel_labels)" if is_relex(model) else ")"),
        "num_steps": STEPS,
        "batch_size": BATCH,
        "hparams": HPARAMS,
        "training_args": jsonable_args(r1["args"]),
        "optimizer": r1["optimizer"],
        "params_without_grad": r1["no_grad"],
        "params_without_grad_note": "never receive a gradient (unused by the forward); AdamW skips them, so "
                                    "weight decay does not touch them either: they stay at their initial values",
        "train_output_metrics": r1["train_output"],
        "dropout_modules_all_p0": r1["n_dropout_modules"],
        "config_highlights": {k: getattr(cfg, k, None) for k in
                              ("span_mode", "max_width", "max_len", "max_types", "hidden_size", "dropout",
                               "class_token_index", "labels_encoder", "words_splitter_type")},
        "loss_definition": (
            "model(**batch, alpha=0.75, gamma=0, prob_margin=0, label_smoothing=0, reduction='sum', negatives=1.0, "
            "masking='none').loss in train() mode with all dropouts 0, computed with the parameters before "
            "that step's update; sum (not mean) over the batch of the masked per-element focal/BCE terms; "
            "this exact tensor is what backward() ran on (gradient_accumulation_steps = 1)"),
        **({"relex_loss": relex_loss_info(r1["args"], cfg)} if is_relex(model) else {}),
        **({"decoder_loss": decoder_loss_info(model)} if is_decoder(model) else {}),
        "grad_norm_definition": "total L2 norm of all parameter gradients before clipping "
                                "(accelerator.clip_grad_norm_ return value); grad_norm_clipped is the norm after",
        "lr_definition": "param_groups[g]['lr'] at optimizer.step() of that step, groups in optimizer order "
                         "(see optimizer.groups)",
        "steps": steps_info,
        "batch_tensors": batch_tensors,
        "batch_tensors_note": "steps.safetensors key step<i>.<name>; integers stored in the smallest type that holds "
                              "them (values exact), labels, adj_matrix, rel_matrix (0/1 float32 targets) as U8; "
                              "'reference' = dtype the model got",
        "other_tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                          for k, v in t1.items() if not k.startswith(("step", "final."))},
        "final_tensors_note": "final.<param>: every GLiNER-head parameter with <= 128 elements, "
                              "FINAL_EXTRA and FINAL_BACKBONE of the script (text backbone only)",
        "final_param_stats_columns": ["sum", "sum_of_squares", "max_abs_change_from_start"],
        "final_param_stats": stats,
        "verification": "trained twice from a fresh load: every stored tensor, every batch and every final parameter "
                        "bit-identical; per-step loss / grad_norm / learning_rate equal the Trainer's own logs "
                        "(logging_steps=1); a plain loop (model(**stored batch) -> backward -> clip_grad_norm_ -> "
                        "torch AdamW with the 4 groups -> get_scheduler('linear')) on the stored batches reproduces "
                        "every loss, grad norm, lr and final parameter bit for bit",
    }
    mdir = out_root / name
    mdir.mkdir(parents=True, exist_ok=True)
    save_file(dict(sorted(t1.items())), str(mdir / "steps.safetensors"), metadata={"format": "pt"})
    dump_json(mdir / "info.json", info)
    losses = [round(float(x), 4) for x in r1["losses"]]
    print(f"[{name}] losses {losses[:3]} ... {losses[-3:]}  grad_norm[0] {float(r1['norms'][0]):.4f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "train"))
    ap.add_argument("--out-decoder", default=str(ROOT / "tests" / "fixtures" / "train_decoder"),
                    help="where DECODER_MODELS and data_decoder.json go")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--lr", type=float, default=None, help="override learning_rate (experiments only)")
    ap.add_argument("--others-lr", type=float, default=None, help="override others_lr (experiments only)")
    args = ap.parse_args()
    if args.lr is not None:
        HPARAMS["learning_rate"] = args.lr
    if args.others_lr is not None:
        HPARAMS["others_lr"] = args.others_lr
    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    examples = load_examples()
    assert len(examples) == BATCH * STEPS
    with open(out_root / "data.json", "w", encoding="utf-8") as f:
        json.dump({
            "source": "/work/shared/data/gliner_train_sample/sample_data.json, first 40 examples",
            "max_words": MAX_WORDS,
            "note": "tokenized_text truncated to max_words; entities kept when end < len; ner_labels = sorted union "
                    "of the gold labels of the example's batch (batch size 2, sequential)",
            "examples": examples,
        }, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    relex_examples = load_relex_examples()
    with open(out_root / "data_relex.json", "w", encoding="utf-8") as f:
        json.dump({
            "source": f"{RELEX_DATA} (SpERT) via scripts/convert_spert.py convert_record, verbose labels; "
                      "the first 40 texts kept in file order (make_train_fixtures.py load_relex_examples)",
            "max_words": MAX_WORDS_RELEX,
            "note": "tokenized_text truncated to max_words; entities kept when end < len, relations touching a dropped "
                    "entity dropped, indices remapped; kept: >= 2 entities, none wider than 4 words, a text without "
                    "relations only second in a batch whose first has one; ner_labels / rel_labels = sorted union of "
                    "the gold entity / relation labels of the example's batch (batch size 2, sequential)",
            "examples": relex_examples,
        }, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    decoder_examples = load_examples(MAX_WORDS_DECODER)
    out_dec = Path(args.out_decoder)
    out_dec.mkdir(parents=True, exist_ok=True)
    with open(out_dec / "data_decoder.json", "w", encoding="utf-8") as f:
        json.dump({
            "source": "/work/shared/data/gliner_train_sample/sample_data.json, first 40 examples (as data.json)",
            "max_words": MAX_WORDS_DECODER,
            "note": "data.json's examples truncated to max_words (16, not 24: the decoder models' sequence length, "
                    "see MAX_WORDS_DECODER in make_train_fixtures.py); entities kept when end < len; ner_labels = "
                    "sorted union of the gold labels of the example's batch (batch size 2, sequential)",
            "examples": decoder_examples,
        }, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    only = set(filter(None, args.only.split(",")))
    for name in MODELS + RELEX_MODELS + DECODER_MODELS:
        if only and name not in only:
            continue
        if name in RELEX_MODELS:
            build(name, relex_examples, out_root, "data_relex.json")
        elif name in DECODER_MODELS:
            build(name, decoder_examples, out_dec, "data_decoder.json")
        else:
            build(name, examples, out_root)
    for root in (out_root, out_dec):
        for p in root.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"size of {root}: {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
