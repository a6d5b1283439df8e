#!/usr/bin/env python
"""The reference half of the CoNLL04 relex side-by-side (issue 16), and the one evaluator both checkpoints go through.

Two commands:

  train  GLiNER 0.2.27's own Trainer on a UniEncoderSpanRelex model, CPU, fp32: the `training:` section of --config
         (configs/uni_encoder_span_relex.yaml) mapped onto create_training_args as train.py maps it (the mapping is
         bench_train_reference.training_kwargs, shared with the entity benchmark; rel_loss_alpha / rel_loss_gamma,
         when the YAML has them, -> rel_focal_loss_alpha / _gamma), the Trainer built as GLiNER.train_model builds it
         (the model's _create_data_collator(): the relex collator with prepare_labels, which makes adj_matrix /
         rel_matrix), --steps / --batch-size overriding the YAML, no evaluation and no checkpoint inside the run;
         the final model is saved with save_pretrained to --save. Sampling is the reference's: RandomSampler seeded by
         --seed, per-batch class sampling and relation negatives from Python's random; PYTHONHASHSEED pinned to 0 (the
         script re-executes itself) so reruns give the same losses. Timing as bench_train_reference.py: train_s = wall
         time of trainer.train(), samples_per_s = steps * batch / train_s.

  eval   One checkpoint (either trainer's: gliner.c writes the reference's format) on a relex file (the CoNLL04 test
         split from scripts/convert_spert.py), scored by gliner.evaluation's BaseNEREvaluator (entities: label and
         word span) and BaseRelexEvaluator (relations, strict: label, head span, tail span). Predictions come from the
         reference's own forward + SpanRelexDecoder, two ways:
           evaluate  the loop of UniEncoderSpanRelexGLiNER.evaluate() (the gold tokenized_text through the relex
                     collator with prepare_labels False, model(...), decoder.decode) with one change: relation_types
                     are passed to the collator. evaluate(entity_types=...) passes none, so it asks no relation type
                     and its relation F1 is always 0 (host/train/eval_relex.h says the same).
           inference GLiNER.inference(texts, labels, relations, threshold, flat_ner) -- the public API -- on the gold
                     words joined by single spaces, with the processor's words splitter replaced by a split on spaces
                     (the 'whitespace' splitter would re-split "U.S." into four words and the spans would no longer be
                     the gold words'); character offsets are mapped back to word indices, relations through
                     head/tail entity_idx. Its tuples must equal the evaluate loop's ("inference_identical").
         Labels: every entity type and every relation type of the file, in order of first appearance, asked of every
         record -- what gliner.c's evaluator does (eval_relex.h), so the prompts are the same. Threshold 0.5 (entity,
         adjacency and relation), batch 8 (gliner.c evaluates at its training batch). flat_ner False is
         evaluate()'s default and gliner.c's; flat_ner True (inference()'s default) is reported beside it.

Usage:
    /work/venv/bin/python bench/bench_relex_reference.py train --model build/minilm_relex \
        --train build/conll04_train.json --steps 400 --batch-size 8 --threads 2 --save build/relex_bench/ref_model \
        --out build/relex_bench/reference_train.json
    /work/venv/bin/python bench/bench_relex_reference.py eval --model CKPT --test build/conll04_test.json \
        --threads 2 --out build/relex_bench/eval_ref.json
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import argparse
import json
import platform
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_train_reference import training_kwargs  # noqa: E402  train.py's YAML -> TrainingArguments mapping


def setup_torch(threads):
    import torch
    import transformers

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return torch


def versions():
    import accelerate
    import torch
    import transformers

    import gliner

    return {"gliner": gliner.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "accelerate": accelerate.__version__, "python": platform.python_version()}


def write(result, out):
    txt = json.dumps(result, indent=1)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(txt + "\n")
    print(txt)


# ---------------------------------------------------------------------------------------------------------- train


def cmd_train(args):
    torch = setup_torch(args.threads)
    import transformers
    from transformers import TrainerCallback

    from gliner import GLiNER
    from gliner.training import Trainer

    kw, cfg = training_kwargs(args.config, args.steps, args.batch_size)
    t = cfg.get("training", {}) or {}
    for k_yaml, k_arg in (("rel_loss_alpha", "rel_focal_loss_alpha"), ("rel_loss_gamma", "rel_focal_loss_gamma")):
        if t.get(k_yaml) is not None:
            kw[k_arg] = float(t[k_yaml])
    train_data = json.load(open(args.train, encoding="utf-8"))
    model = GLiNER.from_pretrained(args.model, local_files_only=True).to(dtype=torch.float32)
    assert type(model).__name__ == "UniEncoderSpanRelexGLiNER", type(model).__name__

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.ends, self.losses = [], []

        def on_step_end(self, a, state, control, **k):
            self.ends.append(time.perf_counter())

        def on_log(self, a, state, control, logs=None, **k):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))
                if state.global_step % args.log_every == 0:
                    print(f"step {state.global_step} loss {logs['loss']:.4f} lr {logs.get('learning_rate', 0):.3e} "
                          f"grad {logs.get('grad_norm', float('nan')):.3f}", flush=True)

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as tmp:
        extra = dict(save_strategy="no", logging_steps=1, disable_tqdm=True, seed=args.seed, use_cpu=True, bf16=False,
                     report_to="none")
        training_args = type(model).create_training_args(output_dir=tmp, **kw, **extra)
        trainer = Trainer(model=model, args=training_args, train_dataset=train_data, eval_dataset=None,
                          data_collator=model._create_data_collator(),
                          processing_class=model.data_processor.transformer_tokenizer, callbacks=[timer])
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        t0 = time.perf_counter()
        out = trainer.train()
        train_s = time.perf_counter() - t0
    steps = trainer.state.global_step
    bs = training_args.per_device_train_batch_size
    steady = (len(timer.ends) - 1) * bs / (timer.ends[-1] - timer.ends[0]) if len(timer.ends) > 1 else None
    if args.save:
        model.save_pretrained(args.save)
    nan_losses = sum(1 for x in timer.losses if x != x)
    write({
        "impl": "reference",
        "model": str(args.model),
        "train": str(args.train),
        "train_examples": len(train_data),
        "config": str(args.config),
        "steps": steps,
        "batch_size": bs,
        "seed": args.seed,
        "train_s": round(train_s, 3),
        "samples_per_s": round(steps * bs / train_s, 3),
        "steady_samples_per_s": round(steady, 3) if steady else None,
        "final_loss": timer.losses[-1] if timer.losses else None,
        "mean_loss": sum(timer.losses) / len(timer.losses) if timer.losses else None,
        "mean_loss_last50": sum(timer.losses[-50:]) / len(timer.losses[-50:]) if timer.losses else None,
        "nan_losses": nan_losses,
        "losses": timer.losses,
        "train_loss_mean": out.metrics.get("train_loss"),
        "saved": args.save,
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "dataloader_num_workers": training_args.dataloader_num_workers,
        "augment_data_prob": getattr(model.config, "augment_data_prob", None),
        "training_args": {k: getattr(training_args, k) for k in (
            "learning_rate", "others_lr", "weight_decay", "others_weight_decay", "lr_scheduler_type", "warmup_ratio",
            "warmup_steps", "max_grad_norm", "focal_loss_alpha", "focal_loss_gamma", "rel_focal_loss_alpha",
            "rel_focal_loss_gamma", "focal_loss_prob_margin", "loss_reduction", "negatives", "masking", "seed")},
        "versions": versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }, args.out)


# ----------------------------------------------------------------------------------------------------------- eval


def first_appearance(records):
    ents, rels = {}, {}
    for r in records:
        for e in r["ner"]:
            ents.setdefault(e[2], None)
        for x in r.get("relations", []):
            rels.setdefault(x[2], None)
    return list(ents), list(rels)


def prf(evaluator_cls, true, pred):
    """P, R, F1 and the counts behind them, from the reference evaluator's own flattening."""
    from gliner.evaluation.utils import extract_tp_actual_correct, flatten_for_eval

    ev = evaluator_cls(true, pred)
    out_str, f1 = ev.evaluate()
    t, p = ev.transform_data()
    yt, yp = flatten_for_eval(t, p)
    pred_sum, tp_sum, true_sum, _ = extract_tp_actual_correct(yt, yp)
    tp, gold, npred = int(tp_sum.sum()), int(true_sum.sum()), int(pred_sum.sum())
    return {"precision": tp / npred if npred else 0.0, "recall": tp / gold if gold else 0.0, "f1": float(f1),
            "tp": tp, "gold": gold, "pred": npred, "evaluator": out_str.strip()}


def eval_loop(model, records, ent_labels, rel_labels, flat_ner, threshold, batch_size):
    """UniEncoderSpanRelexGLiNER.evaluate()'s loop, relation_types passed to the collator."""
    import torch

    collator = model.data_collator_class(model.config, data_processor=model.data_processor, return_tokens=True,
                                         return_entities=True, return_relations=True, return_id_to_classes=True,
                                         return_rel_id_to_classes=True, prepare_labels=False)
    loader = torch.utils.data.DataLoader(
        records, batch_size=batch_size, shuffle=False,
        collate_fn=lambda b: collator(b, entity_types=ent_labels, relation_types=rel_labels))
    ents_p, rels_p, ents_t, rels_t = [], [], [], []
    with torch.no_grad():
        for batch in loader:
            out = model.model(**batch, threshold=threshold, adjacency_threshold=threshold)
            de, dr = model.decoder.decode(
                batch["tokens"], batch["id_to_classes"], out.logits, rel_idx=out.rel_idx, rel_logits=out.rel_logits,
                rel_mask=out.rel_mask, flat_ner=flat_ner, threshold=threshold, relation_threshold=threshold,
                multi_label=False, rel_id_to_classes=batch["rel_id_to_classes"],
                entity_spans=getattr(out, "entity_spans", None))
            ents_p.extend(de)
            rels_p.extend(dr)
            ents_t.extend(batch["entities"])
            rels_t.extend(batch.get("relations", [[] for _ in batch["entities"]]))
    pe = [[(s.start, s.end, s.entity_type) for s in spans] for spans in ents_p]
    pr = [[(r[0], r[1], r[2]) for r in rs] for rs in rels_p]
    return ents_t, rels_t, pe, pr


def eval_inference(model, records, ent_labels, rel_labels, flat_ner, threshold, batch_size):
    """GLiNER.inference on the words joined by spaces, split back on spaces; char offsets -> word indices."""
    texts, starts, ends = [], [], []
    for r in records:
        pos, s_, e_ = 0, {}, {}
        for i, w in enumerate(r["tokenized_text"]):
            s_[pos] = i
            e_[pos + len(w)] = i
            pos += len(w) + 1
        texts.append(" ".join(r["tokenized_text"]))
        starts.append(s_)
        ends.append(e_)

    def split_on_spaces(text):
        pos = 0
        for w in text.split(" "):
            yield w, pos, pos + len(w)
            pos += len(w) + 1

    saved = model.data_processor.words_splitter
    model.data_processor.words_splitter = split_on_spaces
    try:
        ents, rels = model.inference(texts, ent_labels, relations=rel_labels, flat_ner=flat_ner, threshold=threshold,
                                     batch_size=batch_size, return_relations=True)
    finally:
        model.data_processor.words_splitter = saved
    pe = [[(starts[i][e["start"]], ends[i][e["end"]], e["label"]) for e in es] for i, es in enumerate(ents)]
    pr = [[(x["head"]["entity_idx"], x["relation"], x["tail"]["entity_idx"]) for x in rs] for rs in rels]
    return pe, pr


def rel_tuples(ents, rels):
    return sorted((lab, ents[h][0], ents[h][1], ents[t][0], ents[t][1]) for h, lab, t in rels)


def cmd_eval(args):
    torch = setup_torch(args.threads)
    from gliner import GLiNER
    from gliner.evaluation.evaluator import BaseNEREvaluator, BaseRelexEvaluator

    records = json.load(open(args.test, encoding="utf-8"))
    ent_labels, rel_labels = first_appearance(records)
    model = GLiNER.from_pretrained(args.model, local_files_only=True).to(dtype=torch.float32)
    model.eval()
    res = {"model": str(args.model), "test": str(args.test), "records": len(records), "entity_labels": ent_labels,
           "relation_labels": rel_labels, "threshold": args.threshold, "batch_size": args.batch_size}
    for flat in (False, True):
        t0 = time.perf_counter()
        ents_t, rels_t, pe, pr = eval_loop(model, records, ent_labels, rel_labels, flat, args.threshold,
                                           args.batch_size)
        dt = time.perf_counter() - t0
        ent = prf(BaseNEREvaluator, ents_t, pe)
        rel = prf(BaseRelexEvaluator, list(zip(ents_t, rels_t)), list(zip(pe, pr)))
        ie, ir = eval_inference(model, records, ent_labels, rel_labels, flat, args.threshold, args.batch_size)
        same_e = all(sorted(a) == sorted(b) for a, b in zip(pe, ie))
        same_r = all(rel_tuples(a, ra) == rel_tuples(b, rb) for a, ra, b, rb in zip(pe, pr, ie, ir))
        res["flat_ner_" + str(flat).lower()] = {"entities": ent, "relations": rel, "eval_s": round(dt, 2),
                                                "inference_identical": {"entities": same_e, "relations": same_r}}
        print(f"flat_ner={flat}: entities P {100 * ent['precision']:.2f} R {100 * ent['recall']:.2f} "
              f"F1 {100 * ent['f1']:.2f} | relations P {100 * rel['precision']:.2f} R {100 * rel['recall']:.2f} "
              f"F1 {100 * rel['f1']:.2f} ({rel['tp']} tp, {rel['gold']} gold, {rel['pred']} predicted) | "
              f"inference() identical: entities {same_e}, relations {same_r}", file=sys.stderr, flush=True)
    res["versions"] = versions()
    write(res, args.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train")
    tr.add_argument("--model", required=True)
    tr.add_argument("--train", required=True)
    tr.add_argument("--config", default=str(ROOT / "configs" / "uni_encoder_span_relex.yaml"))
    tr.add_argument("--steps", type=int, default=None)
    tr.add_argument("--batch-size", type=int, default=None)
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument("--seed", type=int, default=42)
    tr.add_argument("--log-every", type=int, default=50)
    tr.add_argument("--save", default=None)
    tr.add_argument("--out", default=None)
    ev = sub.add_parser("eval")
    ev.add_argument("--model", required=True)
    ev.add_argument("--test", required=True)
    ev.add_argument("--threads", type=int, default=2)
    ev.add_argument("--threshold", type=float, default=0.5)
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--out", default=None)
    args = ap.parse_args()
    (cmd_train if args.cmd == "train" else cmd_eval)(args)


if __name__ == "__main__":
    main()
