"""mtl_tutorial: the package behind the *Multi-Task Learning for Computer Vision* book.

Modules:

* :mod:`mtl_tutorial.data`: MNIST/Fashion-MNIST, MultiMNIST/MultiFashion, MultiMNIST-Seg, Shapes;
* :mod:`mtl_tutorial.utils`: device choice, seeding, progress bars;
* :mod:`mtl_tutorial.checkpoint`: checkpoints with metadata, loaded with ``weights_only=True``;
* :mod:`mtl_tutorial.experiments`: the experiment registry used by the command line;
* :mod:`mtl_tutorial.pretrained`: the shipped weights and their manifest.
"""

__version__ = "0.1.0"
