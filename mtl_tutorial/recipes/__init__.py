"""The old import path of the chapters' experiments, kept for notebooks and user code.

The experiments now live in :mod:`mtl_tutorial.experiments` (``ch2_sharing``,
``ch3_weighting``, ``ch4_genseg``, ``ch5_mtcgan``); each module here re-exports one of them.
"""
