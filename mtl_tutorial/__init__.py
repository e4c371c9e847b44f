"""mtl_tutorial: the package behind the *Multi-Task Learning for Computer Vision* book.

Read it next to the book. Each line is one module (or subpackage), lowest layer first; a
module only imports modules above it in this list (``tests/test_architecture.py`` checks
it), and the chapter in brackets is where the book uses it.

Foundations

* ``errors``: every exception of the package, each message naming the problem and the fix [all]
* ``files``: atomic writes and the safe ``weights_only`` loader [all]
* ``utils``: device choice, seeding, progress bars [1]

Storage

* ``checkpoint``: a state dict plus JSON metadata, read with ``weights_only=True`` [1]
* ``store``: the shipped weight files and their manifest (ship, record, sha256) [1]
* ``provenance``: what a recorded run was trained under (budget, kind of device) [1]

Data, tasks and metrics

* ``data``: MNIST/Fashion-MNIST, MultiMNIST/MultiFashion, MultiMNIST-Seg, Shapes [1]
* ``loaders``: the seeded in-memory batch loader [1]
* ``tasks``: a task = its loss, its metric and whether higher is better [1, 2]
* ``metrics``: accuracy, mIoU, MSE, box IoU, reconstruction error; Δm [2]
* ``losses``: pure losses: the VAE's ELBO and KL, the GAN's adversarial losses [4, 5]

Models

* ``models``: hard and soft sharing, cross-stitch, dense encoder-decoders, the genseg
  network, MT-CGAN's generator and discriminator, the seeds' own models; ``models.protocols``
  writes down what the trainer expects of a model [2, 4, 5]

Loss weighting

* ``weighting``: one file per method (equal, static, uncertainty, DWA, GradNorm, PCGrad,
  MGDA, CAGrad, FAMO) and the per-task gradient helpers [3]

Training

* ``trainer``: the one training loop, ``Trainer(model, tasks, weighting)`` [2-5]
* ``schedules``: the staged (pre-train, freeze, fine-tune) schedule [4]

Evaluation and reports

* ``feature_stats``: Fréchet distance, live units, precision and recall of feature sets [4, 5]
* ``gan_eval``: the judges of generated digits and the generator metrics [4, 5]
* ``report``: the book's tables and seed statistics, read from the manifest [2-5]
* ``viz``: image grids and figures [1-5]
* ``bench_weighting``: the speed benchmark of the weighting methods [3]

Experiments

* ``experiments``: the registry and every chapter's experiments, by name [2-5]
* ``recipes``: the older per-chapter import path of the experiments, kept working [2-5]
* ``pretrained``: ``load(NAME)`` a trained model, or retrain it (``load_or_train``) [2-5]
* ``labs``: the checks of the lab notebooks (student code against the package's) [labs]

Tools

* ``doctor``: ``python -m mtl_tutorial doctor`` checks a setup and prints fixes [intro]
* ``reproduce``: ``python -m mtl_tutorial reproduce`` retrains every shipped weight [intro]
* ``classroom``: ``python -m mtl_tutorial classroom`` builds the student labs, their grader
  and the student edition of the book [instructor guide]
* ``cli``: ``python -m mtl_tutorial {list,train,evaluate,sample,data,doctor,reproduce,classroom}``
"""

__version__ = "0.1.0"
