#!/usr/bin/env python
"""The reference half of the side-by-side training run (issue #6): GLiNER 0.2.27's own Trainer, CPU.

Loads a GLiNER model directory (default ${GLINER_MINILM_DIR:-~/.cache/gliner_c/minilm_gliner}, the real
all-MiniLM-L6-v2 GLiNER made by scripts/make_minilm_gliner.py, which is run when the directory is missing),
trains it for --steps optimizer steps on the CoNLL-2003 train split converted by scripts/conll_to_train.py
(converted on the fly into --train when that file is missing), then evaluates it on the CoNLL-2003 test split
with the reference evaluator and writes one JSON with throughput, losses, F1, versions and threads.

Training = what train.py does with a config file, minus the model build: the `training:` section of --config
(configs/uni_encoder_span.yaml by default: the uni-encoder span seed config) is mapped onto
GLiNER.create_training_args exactly as train.py maps it (lr_encoder -> learning_rate, lr_others -> others_lr,
weight_decay_encoder -> weight_decay, weight_decay_other -> others_weight_decay, max_grad_norm, scheduler_type,
warmup_ratio (or warmup_steps), loss_alpha / loss_gamma / loss_prob_margin / loss_reduction / negatives /
masking), and the Trainer is built exactly as GLiNER.train_model builds it (model's own
_create_data_collator(), processing_class = its tokenizer; gliner.training.Trainer) -- constructed here rather
than through train_model only to attach a timing callback. The config's `model:` section is ignored (the model
is --model: the prev_path route of train.py); max_types, max_neg_type_ratio, max_len, dropout etc. therefore
come from the model's gliner_config.json. Differences from train.py, all for a fair CPU benchmark:
  * fp32 (train.py passes bf16=True; --bf16 restores that: bfloat16 autocast on CPU);
  * no checkpoint saving (save_strategy "no"; train.py saves every eval_every steps), logging every step;
  * --steps / --batch-size override num_steps / train_batch_size.
Sampling is the reference's: RandomSampler seeded by TrainingArguments.seed (42), random in-batch negative
types / type shuffling in the collator, dropout active, dataloader_num_workers from create_training_args (1).
PYTHONHASHSEED is pinned to 0 (the script re-executes itself): the collator shuffles lists built from Python
sets, so without it the batches differ between runs despite the seed. With it, reruns give the same losses.

Evaluation = gliner.evaluation.evaluate_ner.get_for_one_path without the glob: test.json through the
reference's process() (char -> word offsets), labels.json lower-cased as entity_types, model.evaluate(...,
flat_ner=True, threshold=0.5, batch_size=12); --eval-limit N uses the first N test sentences.

Timing: train_s = wall time of trainer.train() (optimizer / dataloader creation included, evaluation
excluded); samples_per_s = steps * batch / train_s. steady_samples_per_s excludes the first optimizer step
(warm-up): (steps - 1) * batch / (end of last step - end of first step), from on_step_end callbacks.

Usage:
    /work/venv/bin/python bench/bench_train_reference.py --steps 5 --batch-size 8 --threads 2 \
        --eval-limit 200 --out build/bench_train_reference.json
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    # the collator builds class lists from Python sets before random.shuffle: without a fixed hash seed the
    # batches (and so the losses) differ from process to process even with TrainingArguments.seed fixed
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
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parent.parent
CONLL = Path("/work/shared/data/gliner_eval/conll2003")
DEFAULT_MODEL = os.environ.get("GLINER_MINILM_DIR", str(Path.home() / ".cache" / "gliner_c" / "minilm_gliner"))


def training_kwargs(cfg_path, steps, batch_size):
    """train.py's mapping of the `training:` section onto create_training_args."""
    import yaml

    with open(cfg_path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    t = cfg.get("training", {}) or {}

    def num(key, default):
        v = t.get(key, default)
        return default if v is None else float(v)  # train.py: float(...) (1e-5 is a string to PyYAML)

    kw = dict(
        max_steps=int(steps if steps is not None else t.get("num_steps", 10000)),
        lr_scheduler_type=t.get("scheduler_type", "linear"),
        per_device_train_batch_size=int(batch_size if batch_size is not None else t.get("train_batch_size", 8)),
        learning_rate=num("lr_encoder", 5e-5),
        others_lr=num("lr_others", 5e-5),
        weight_decay=num("weight_decay_encoder", 0.01),
        others_weight_decay=num("weight_decay_other", 0.01),
        max_grad_norm=num("max_grad_norm", 1.0),
        focal_loss_alpha=num("loss_alpha", -1),
        focal_loss_gamma=num("loss_gamma", 0.0),
        focal_loss_prob_margin=num("loss_prob_margin", 0.0),
        loss_reduction=t.get("loss_reduction", "sum"),
        negatives=num("negatives", 1.0),
        masking=t.get("masking", "none"),
    )
    kw["per_device_eval_batch_size"] = kw["per_device_train_batch_size"]
    if t.get("warmup_ratio") is not None:
        kw["warmup_ratio"] = float(t["warmup_ratio"])
    elif t.get("warmup_steps") is not None:
        # configs/tiny (absolute steps) and the reference's own YAMLs (warmup_steps: 0.05, which train.py never
        # reads: it crashes on the missing warmup_ratio). transformers 5.x reads a float < 1 as a ratio.
        # warmup_ratio must be None: any other value (create_training_args' default is 0.1) overwrites warmup_steps.
        w = float(t["warmup_steps"])
        kw["warmup_ratio"] = None
        kw["warmup_steps"] = int(w) if w >= 1 else w
    return kw, cfg


def ensure_model(path):
    if (Path(path) / "gliner_config.json").exists():
        return
    print(f"{path} missing: running scripts/make_minilm_gliner.py", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_minilm_gliner.py"), "--out", str(path)], check=True)


def ensure_train(path):
    if Path(path).exists():
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    print(f"{path} missing: running scripts/conll_to_train.py", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "conll_to_train.py"), str(path)], check=True)


def main():
    ap = argparse.ArgumentParser(description="reference (PyTorch) side of the side-by-side training benchmark")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--train", default=str(ROOT / "build" / "conll2003_train.json"),
                    help="training JSON from scripts/conll_to_train.py (made when missing)")
    ap.add_argument("--config", default=str(ROOT / "configs" / "uni_encoder_span.yaml"))
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default: config num_steps)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: config train_batch_size")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--workers", type=int, default=None,
                    help="dataloader_num_workers (default: create_training_args' 1)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast as train.py (default fp32)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--eval-limit", type=int, default=0, help="first N CoNLL test sentences (0 = all)")
    ap.add_argument("--eval-batch-size", type=int, default=12)
    ap.add_argument("--save", default=None, help="save the trained model here (save_pretrained)")
    ap.add_argument("--out", default=None, help="result JSON (also printed)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="train on the CPU (default) or the GPU")
    ap.add_argument("--no-eval", action="store_true", help="skip the CoNLL test evaluation (throughput runs)")
    ap.add_argument("--no-shuffle", action="store_true",
                    help="records in file order (a SequentialSampler), as gliner train --no-shuffle: with per-record"
                         " ner_labels the two trainers then see the same batches and classes")
    args = ap.parse_args()

    ensure_model(args.model)
    ensure_train(args.train)

    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import accelerate
    import transformers
    from transformers import TrainerCallback

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    import gliner
    from gliner import GLiNER
    from gliner.evaluation.evaluate_ner import process
    from gliner.training import Trainer

    kw, cfg = training_kwargs(args.config, args.steps, args.batch_size)
    train_data = json.load(open(args.train, encoding="utf-8"))

    model = GLiNER.from_pretrained(args.model, local_files_only=True).to(dtype=torch.float32)
    if args.device == "cuda":
        model = model.to("cuda")

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.ends, self.losses = [], []

        def on_step_end(self, a, state, control, **k):
            self.ends.append(time.perf_counter())

        def on_log(self, a, state, control, logs=None, **k):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as tmp:
        extra = dict(save_strategy="no", logging_steps=1, disable_tqdm=True, seed=args.seed, use_cpu=args.device == "cpu",
                     bf16=args.bf16, report_to="none")
        if args.workers is not None:
            extra["dataloader_num_workers"] = args.workers
        # as train_model: create_training_args(output_dir, **kwargs) -> Trainer(model=self, ...)
        training_args = type(model).create_training_args(output_dir=tmp, **kw, **extra)
        TrainerCls = Trainer
        if args.no_shuffle:
            from torch.utils.data import SequentialSampler

            class TrainerCls(Trainer):  # noqa: N801 -- the reference's Trainer, records in file order
                def _get_train_sampler(self, train_dataset=None):
                    return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

        trainer = TrainerCls(
            model=model,
            args=training_args,
            train_dataset=train_data,
            eval_dataset=None,
            data_collator=model._create_data_collator(),
            processing_class=model.data_processor.transformer_tokenizer,
            callbacks=[timer],
        )
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        t0 = time.perf_counter()
        out = trainer.train()
        train_s = time.perf_counter() - t0
    steps = trainer.state.global_step
    bs = training_args.per_device_train_batch_size
    steady = None
    if len(timer.ends) > 1:
        steady = (len(timer.ends) - 1) * bs / (timer.ends[-1] - timer.ends[0])
    if args.save:
        model.save_pretrained(args.save)

    # evaluation (get_for_one_path without the directory glob)
    test, labels, prf, f1, eval_s = [], [], {}, float("nan"), 0.0
    if not args.no_eval:
        test_raw = json.load(open(CONLL / "test.json", encoding="utf-8"))
        if args.eval_limit:
            test_raw = test_raw[: args.eval_limit]
        test = [process(d) for d in test_raw]
        labels = [lab.lower() for lab in json.load(open(CONLL / "labels.json", encoding="utf-8"))]
        t0 = time.perf_counter()
        with torch.no_grad():
            res, f1 = model.evaluate(test, flat_ner=True, threshold=0.5, batch_size=args.eval_batch_size,
                                     entity_types=labels)
        eval_s = time.perf_counter() - t0
        prf = dict(x.split(": ") for x in res.strip().split("\t"))

    result = {
        "impl": "reference",
        "model": str(args.model),
        "train": str(args.train),
        "train_examples": len(train_data),
        "config": os.path.relpath(args.config, ROOT) if str(args.config).startswith(str(ROOT)) else args.config,
        "steps": steps,
        "batch_size": bs,
        "samples": steps * bs,
        "train_s": round(train_s, 3),
        "samples_per_s": round(steps * bs / train_s, 3),
        "steady_samples_per_s": round(steady, 3) if steady else None,
        "hf_train_samples_per_second": out.metrics.get("train_samples_per_second"),
        "peak_mem_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if args.device == "cuda" else None,
        "final_loss": timer.losses[-1] if timer.losses else None,
        "mean_loss_last10": (sum(timer.losses[-10:]) / len(timer.losses[-10:])) if timer.losses else None,
        "losses": timer.losses,
        "train_loss_mean": out.metrics.get("train_loss"),
        "eval": {
            "data": "conll2003/test.json" + (f"[:{args.eval_limit}]" if args.eval_limit else ""),
            "sentences": len(test),
            "gold_entities": sum(len(x["ner"]) for x in test),
            "labels": labels,
            "flat_ner": True,
            "threshold": 0.5,
            "batch_size": args.eval_batch_size,
            "precision": prf.get("P"),
            "recall": prf.get("R"),
            "f1": float(f1),
            "eval_s": round(eval_s, 3),
        },
        "threads": args.threads,
        "device": args.device,
        "shuffle": not args.no_shuffle,
        "torch_threads": torch.get_num_threads(),
        "dataloader_num_workers": training_args.dataloader_num_workers,
        "precision_mode": "bf16-autocast" if args.bf16 else "fp32",
        "training_args": {k: getattr(training_args, k) for k in (
            "learning_rate", "others_lr", "weight_decay", "others_weight_decay", "lr_scheduler_type",
            "warmup_steps", "max_grad_norm", "focal_loss_alpha", "focal_loss_gamma", "focal_loss_prob_margin",
            "loss_reduction", "negatives", "masking", "gradient_accumulation_steps", "seed", "optim")},
        "versions": {
            "gliner": gliner.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "accelerate": accelerate.__version__,
            "python": platform.python_version(),
        },
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    txt = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(txt + "\n")
    print(txt)


if __name__ == "__main__":
    main()
