"""Model families of the book; each module is one concept.

* :mod:`.protocols`: the model contract (the hooks the trainer, the weighting methods and
  the CLI rely on), as typed protocols.
* :mod:`.checks`: clear errors for bad inputs.
* :mod:`.sharing` (chapter 2): hard sharing, soft sharing, cross-stitch networks.
* :mod:`.dense`: a shared U-Net-style encoder with one decoder per dense task.
* :mod:`.seeds`: seeds 003 and 004's models, corrected.
* :mod:`.genseg` (chapter 4): generation + segmentation on one encoder (VAE, seeds 000, 001).
* :mod:`.classifier`: the MNIST classifier that judges generated digits.
* :mod:`.mtcgan` (chapter 5): the conditional GAN with a multi-task discriminator.
"""
