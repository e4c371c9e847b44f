"""The checks behind the labs in ``notebooks/labs/`` (one module per lab).

Each lab asks the student to write a piece of the package; its module compares the
student's code with the package's own on random inputs and checks properties
(symmetry, invariance, gradient flow), raising :class:`~.checking.LabCheckError` with a
message that says what is wrong. ``python -m mtl_tutorial classroom`` turns the lab
sources into student notebooks and a grader (see :mod:`mtl_tutorial.classroom`).

* :mod:`.checking`: the error type and comparisons every check uses
* :mod:`.data`: lab 1, composing MultiMNIST from two digits
* :mod:`.sharing`: lab 2, hard and soft sharing, cross-stitch
* :mod:`.weighting`: lab 3, DWA, uncertainty weighting, MGDA, PCGrad
* :mod:`.genseg`: lab 4, the VAE loss and the frozen shared encoder
* :mod:`.gan`: lab 5, conditional GAN losses, AC-GAN, an extra discriminator head
"""
