#!/usr/bin/env python
"""Reference-side data-parallel training fixture for gliner.c (issue 15): the REAL reference trainer under
torchrun on the CPU (gloo), 2 processes, as `train.py` runs multi-GPU through the HF Trainer -- DDP, each rank its
slice of every global batch, gradients averaged.

    torchrun --nproc_per_node 2 scripts/make_ddp_fixture.py [--out tests/fixtures/train_ddp] [--bf16-hook]

(from the repository root, with the venv of the pinned reference packages: /work/venv/bin/torchrun) writes (rank 0):
    tests/fixtures/train_ddp/data.json            the 40 examples of tests/fixtures/train (scripts/make_train_fixtures.py:
                                                  the sample data truncated to 24 words, each example's fixed
                                                  "ner_labels"), as a plain list: the file `gliner train` reads
    tests/fixtures/train_ddp/config.yaml          the same hyperparameters as a training YAML for `gliner train`
    tests/fixtures/train_ddp/<model>.json         per optimizer step: the loss the Trainer logs (the mean over the
                                                  ranks of each rank's loss), the gradient norm before clipping
                                                  (of the averaged gradients), the learning rate; the versions
with --bf16-hook, only (data.json and config.yaml are left alone):
    tests/fixtures/train_ddp/<model>.bf16.json    the same run with torch's bf16_compress_hook registered on the DDP
                                                  model: what `gliner train` does with training.ddp_reduce_dtype: bf16

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

--bf16-hook: torch.distributed.algorithms.ddp_comm_hooks.default_hooks.bf16_compress_hook, the real one, registered
(DistributedDataParallel.register_comm_hook, process group WORLD) on the Trainer's DDP model in on_train_begin: the
Trainer wraps the model (accelerator.prepare) inside train(), after its callbacks' __init__ and before on_train_begin,
so trainer.model_wrapped is the DDP module there, and no backward has run yet. The hook, per bucket (DDP's default
25 MB cap: one bucket for these models): the rank's fp32 gradients rounded to bfloat16, divided by the world size in
bfloat16 (each value computed in fp32 and rounded to bf16: exact for 2 ranks, x * 0.5; for 3..7 ranks torch's x / w
also equals bf16(x * fp32(1/w)), ddp.c's multiply, on 1e7 random values), all-reduced as bfloat16 -- gloo takes
bfloat16 tensors as they are, no fp32 transport: the sum of two bf16 values is computed in fp32 and rounded to
nearest even (with 2 ranks one addition, the same in either order) -- and the sum converted back to fp32 into the
gradients. The script wraps the hook only to watch it (the wrapper calls bf16_compress_hook itself and keeps a copy
of each bucket's input and result) and asserts, at every step: the hook ran on every bucket; its result is bit for
bit bf16(bf16(bf16(g0) * 0.5) + bf16(bf16(g1) * 0.5)) computed here from both ranks' gathered fp32 inputs (so gloo's
bf16 sum is exactly that arithmetic, the one host/train/ddp.c does); and the Trainer's logged gradient norm is the
norm of the hook's results (within 1e-5 relative: the norm's summation order) -- the gradients the Trainer clipped
are the bf16 sums. Versions: the same as the fp32 fixtures (gliner 0.2.27, torch 2.15.0+cu132 run on the CPU,
transformers 5.1.0, accelerate 1.13.0; recorded in every json's "versions"). Reruns are byte-identical.
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
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import bf16_compress_hook  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402
from torch.utils.data import SequentialSampler  # noqa: E402

MODELS = ["uni_span_bert_markerV0", "uni_span_deberta_markerV0", "uni_token_deberta"]
STEPS = 20


class DdpTrainer(mtf.Trainer):
    """the Trainer with a fixed order; the split across ranks stays the Trainer's (accelerate's)"""

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)


class Bf16Hook(transformers.TrainerCallback):
    """registers bf16_compress_hook on the DDP model before the first step, and checks every step what it did"""

    def __init__(self):
        self.trainer, self.pending, self.norms, self.buckets = None, [], [], None

    def on_train_begin(self, args, state, control, **kw):
        ddp = self.trainer.model_wrapped
        assert isinstance(ddp, DistributedDataParallel), type(ddp)
        ddp.register_comm_hook(None, self.hook)  # state None: the default (WORLD) process group

    def hook(self, process_group, bucket):
        x = bucket.buffer().detach().clone()  # this rank's fp32 gradients of the bucket
        i = bucket.index()
        fut = bf16_compress_hook(process_group, bucket)

        def keep(f):
            self.pending.append((i, x, f.value().detach().clone()))
            return f.value()

        return fut.then(keep)

    def on_pre_optimizer_step(self, args, state, control, **kw):
        """the backward and every bucket's reduction are done (DDP waits for the hooks' futures)"""
        world = dist.get_world_size()
        done = sorted(self.pending, key=lambda t: t[0])
        self.pending = []
        assert done and [t[0] for t in done] == list(range(len(done))), [t[0] for t in done]
        if self.buckets is None:
            self.buckets = len(done)
        assert len(done) == self.buckets, (len(done), self.buckets)
        sq = 0.0
        for i, x, y in done:
            xs = [torch.empty_like(x) for _ in range(world)]
            dist.all_gather(xs, x)
            want = xs[0].to(torch.bfloat16) * (1.0 / world)
            for xr in xs[1:]:
                want = want.float() + (xr.to(torch.bfloat16) * (1.0 / world)).float()
            want = want.to(torch.bfloat16).float()
            assert torch.equal(y.view(torch.int32), want.view(torch.int32)), (
                f"bucket {i}: the hook's bf16 sum differs from bf16(bf16(bf16(g0)/2) + bf16(bf16(g1)/2)) at "
                f"{int((y != want).sum())} of {y.numel()}")
            sq += float(torch.linalg.vector_norm(y.double()) ** 2)
        self.norms.append(sq ** 0.5)


def run(model_dir, examples, tmp, bf16_hook=False):
    mtf.seed_all(0)
    model = mtf.GLiNER.from_pretrained(str(model_dir), local_files_only=True).to(dtype=torch.float32)
    mtf.check_dropouts(model)
    hp = dict(mtf.HPARAMS, max_steps=STEPS, ddp_find_unused_parameters=True, ddp_backend="gloo")
    args = type(model).create_training_args(output_dir=str(tmp), **hp)
    rec = mtf.StepRecorder()
    hook = Bf16Hook() if bf16_hook else None
    trainer = DdpTrainer(model=model, args=args, train_dataset=examples,
                         data_collator=mtf.FixedTypesCollator(model._create_data_collator()),
                         processing_class=model.data_processor.transformer_tokenizer,
                         callbacks=[rec] + ([hook] if hook else []))
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    if hook:
        hook.trainer = trainer
    trainer.train()
    assert args.world_size == 2, args.world_size
    assert len(rec.logs) == STEPS, rec.logs
    if hook:
        assert len(hook.norms) == STEPS, len(hook.norms)
        for k, (n, e) in enumerate(zip(hook.norms, rec.logs)):
            assert abs(n - e["grad_norm"]) <= 1e-5 * n, (k, n, e["grad_norm"])
        print(f"rank {dist.get_rank()}: bf16_compress_hook ran on {hook.buckets} bucket(s) at each of {STEPS} steps, "
              f"bit for bit bf16(bf16(bf16(g0)/2) + bf16(bf16(g1)/2)); the logged norms are the hook's", flush=True)
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(mtf.ROOT / "tests" / "fixtures" / "train_ddp"))
    ap.add_argument("--bf16-hook", action="store_true",
                    help="register DDP's bf16_compress_hook; write <model>.bf16.json only")
    a = ap.parse_args()
    out = Path(a.out)
    examples = mtf.load_examples()
    rank = int(os.environ.get("RANK", "0"))
    for name in MODELS:
        rec = run(mtf.ROOT / "tests" / "fixtures" / "models" / name, examples, Path(f"/tmp/ddp_fixture_{rank}"),
                  a.bf16_hook)
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            doc = {"model": f"tests/fixtures/models/{name}", "world_size": 2, "batch_per_rank": mtf.BATCH,
                   "steps": STEPS, "hparams": {k: v for k, v in mtf.HPARAMS.items() if k != "max_steps"}}
            if a.bf16_hook:
                doc["ddp_comm_hook"] = "torch.distributed.algorithms.ddp_comm_hooks.default_hooks.bf16_compress_hook"
            doc.update({"versions": mtf.VERSIONS,
                        "loss": [e["loss"] for e in rec.logs], "grad_norm": [e["grad_norm"] for e in rec.logs],
                        "learning_rate": [e["learning_rate"] for e in rec.logs]})
            mtf.dump_json(out / f"{name}{'.bf16' if a.bf16_hook else ''}.json", doc)
    if rank == 0 and not a.bf16_hook:
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
