"""Why is the depth MSE of ``shapes-hard`` seed-unstable? (issue #17, notes in dev-notes/evidence.md)

Trains the chapter-2 dense pair (shared encoder, segmentation + depth decoders, the
``shapes-hard`` recipe: Adam 1e-3, cosine, batch 64, 10 000 Shapes images) for one seed and
writes the per-epoch test depth MSE and mIoU to a JSON file. VARIANT:

* ``l1``: the shipped recipe (L1 depth loss);
* ``mse``: the depth loss the chapter recommends (MSE);
* ``...-bias``: the depth decoder's output bias starts at the training targets' mean
  (0.9238) instead of about 0;
* ``...-w5``: depth loss weight 1 / 0.2116 (the targets' std), i.e. standardised targets.

Usage: python tools/probe_depth_stability.py VARIANT SEED OUT.json [EPOCHS]
"""

import dataclasses
import json
import sys
import time

import torch
import torch.nn.functional as F

from mtl_tutorial.experiments.ch2_sharing import DENSE, DENSE_NORM, DENSE_WIDTHS, DEPTH, SEG
from mtl_tutorial.loaders import BatchLoader
from mtl_tutorial.models.dense import DenseMultiTaskNet
from mtl_tutorial.trainer import Trainer
from mtl_tutorial.utils import seed_everything
from mtl_tutorial.weighting.static import StaticWeighting

TARGET_MEAN, TARGET_STD = 0.9238, 0.2116  # depth targets of the first 2000 training images

torch.set_num_threads(1)
variant, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
epochs = int(sys.argv[4]) if len(sys.argv) > 4 else DENSE.epochs
depth = DEPTH if variant.startswith("l1") else dataclasses.replace(DEPTH, loss=F.mse_loss)
tasks = [SEG, depth]
seed_everything(seed)
model = DenseMultiTaskNet(tasks, widths=DENSE_WIDTHS, norm=DENSE_NORM)
if "-bias" in variant:
    with torch.no_grad():
        model.heads["depth"].out.bias.fill_(TARGET_MEAN)
weighting = StaticWeighting({"seg": 1.0, "depth": 1 / TARGET_STD}) if variant.endswith("-w5") else None
kwargs = {"weighting": weighting} if weighting else {}
trainer = Trainer(model, tasks, lr=DENSE.lr, cosine_epochs=epochs, **kwargs)
start = time.perf_counter()
history = trainer.fit(
    BatchLoader(DENSE.train(), DENSE.batch_size, shuffle=True, seed=seed),
    BatchLoader(DENSE.test(), 500),
    epochs,
)
row = {
    "variant": variant,
    "seed": seed,
    "epochs": epochs,
    "seconds": time.perf_counter() - start,
    "depth_mse": [h.get("depth_mse") for h in history],
    "miou": [h.get("miou") for h in history],
}
with open(out, "w") as f:
    json.dump(row, f)
print(row)
