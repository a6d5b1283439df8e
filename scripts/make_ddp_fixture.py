#!/usr/bin/env python
"""Reference-side data-parallel training fixture for gliner.c (issue 15): the REAL reference trainer under
torchrun on the CPU (gloo), 2 processes, as `train.py` runs multi-GPU through the HF Trainer -- DDP, each rank its
slice of every global batch, gradients averaged.

    torchrun --nproc_per_node 2 scripts/make_ddp_fixture.py [--out tests/fixtures/train_ddp]

writes (rank 0):
    tests/fixtures/train_ddp/data.json            the 40 examples of tests/fixtures/train (scripts/make_train_fixtures.py:
                                                  the sample data truncated to 24 words, each example's fixed
                                                  "ner_labels"), as a plain list: the file `gliner train` reads
    tests/fixtures/train_ddp/config.yaml          the same hyperparameters as a training YAML for `gliner train`
    tests/fixtures/train_ddp/<model>.json         per optimizer step: the loss the Trainer logs (the mean over the
                                                  ranks of each rank's loss), the gradient norm before clipping
                                                  (of the averaged gradients), the learning rate; the versions

Setting: make_train_fixtures.py's hyperparameters (HPARAMS: lr 5e-5 / head 1e-4, weight decay 0.1 / 0.3, linear
schedule with warmup_ratio 0.1, clipping at 1.0, focal alpha 0.75, loss "sum"), batch 2 per rank, 20 optimizer
steps = two epochs of 40 examples over 2 ranks. How the Trainer splits the data: its sampler walks the whole data set
(a SequentialSampler here, so the order is fixed; RandomSampler in train.py), the DataLoader cuts it into batches of
per_device_train_batch_size, and accelerate's prepare deals those batches to the processes in turn (BatchSamplerShard:
batch i to rank i mod world; with even_batches the epoch is completed from its first samples to a multiple of the
world size). So rank r trains examples [4k + 2r, 4k + 2r + 1] mod 40 at step k, which `gliner train --no-shuffle` under
`mpirun -np 2` does too. Classes come from each example's ner_labels (the collator's make_mapping: no random draw).
Dropout is 0 in these fixture models, so the reference's run is deterministic; ddp_find_unused_parameters=True
(parameters without a gradient would stop DDP otherwise).
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_train_fixtures as mtf  # noqa: E402  (re-executes with PYTHONHASHSEED=0, imports torch, gliner)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import transformers  # noqa: E402
from torch.utils.data import SequentialSampler  # noqa: E402

MODELS = ["uni_span_bert_markerV0", "uni_span_deberta_markerV0", "uni_token_deberta"]
STEPS = 20


class DdpTrainer(mtf.Trainer):
    """the Trainer with a fixed order; the split across ranks stays the Trainer's (accelerate's)"""

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)


def run(model_dir, examples, tmp):
    mtf.seed_all(0)
    model = mtf.GLiNER.from_pretrained(str(model_dir), local_files_only=True).to(dtype=torch.float32)
    mtf.check_dropouts(model)
    hp = dict(mtf.HPARAMS, max_steps=STEPS, ddp_find_unused_parameters=True, ddp_backend="gloo")
    args = type(model).create_training_args(output_dir=str(tmp), **hp)
    rec = mtf.StepRecorder()
    trainer = DdpTrainer(model=model, args=args, train_dataset=examples,
                         data_collator=mtf.FixedTypesCollator(model._create_data_collator()),
                         processing_class=model.data_processor.transformer_tokenizer, callbacks=[rec])
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    trainer.train()
    assert args.world_size == 2, args.world_size
    assert len(rec.logs) == STEPS, rec.logs
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(mtf.ROOT / "tests" / "fixtures" / "train_ddp"))
    a = ap.parse_args()
    out = Path(a.out)
    examples = mtf.load_examples()
    rank = int(os.environ.get("RANK", "0"))
    for name in MODELS:
        rec = run(mtf.ROOT / "tests" / "fixtures" / "models" / name, examples, Path(f"/tmp/ddp_fixture_{rank}"))
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            doc = {"model": f"tests/fixtures/models/{name}", "world_size": 2, "batch_per_rank": mtf.BATCH,
                   "steps": STEPS, "hparams": {k: v for k, v in mtf.HPARAMS.items() if k != "max_steps"},
                   "versions": mtf.VERSIONS,
                   "loss": [e["loss"] for e in rec.logs], "grad_norm": [e["grad_norm"] for e in rec.logs],
                   "learning_rate": [e["learning_rate"] for e in rec.logs]}
            mtf.dump_json(out / f"{name}.json", doc)
    if rank == 0:
        with open(out / "data.json", "w", encoding="utf-8") as f:
            json.dump(examples, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        hp = mtf.HPARAMS
        (out / "config.yaml").write_text(f"""# scripts/make_ddp_fixture.py: the reference run's hyperparameters for `gliner train` (2 ranks x batch 2)
model:
  name: "ddp fixture"
data:
  root_dir: /tmp/ddp_fixture_unused
  train_data: "tests/fixtures/train_ddp/data.json"
  val_data_dir: "none"
training:
  prev_path: null
  num_steps: {STEPS}
  train_batch_size: {hp['per_device_train_batch_size']}
  eval_every: {STEPS}
  warmup_ratio: {hp['warmup_ratio']}
  scheduler_type: "{hp['lr_scheduler_type']}"
  loss_alpha: {hp['focal_loss_alpha']}
  loss_gamma: {hp['focal_loss_gamma']}
  loss_prob_margin: {hp['focal_loss_prob_margin']}
  loss_reduction: "{hp['loss_reduction']}"
  negatives: {hp['negatives']}
  masking: "{hp['masking']}"
  lr_encoder: {hp['learning_rate']}
  lr_others: {hp['others_lr']}
  weight_decay_encoder: {hp['weight_decay']}
  weight_decay_other: {hp['others_weight_decay']}
  max_grad_norm: {hp['max_grad_norm']}
  save_total_limit: 1
  seed: {hp['seed']}
  bf16: false
""")
    if dist.is_initialized():
        dist.barrier()


if __name__ == "__main__":
    main()
