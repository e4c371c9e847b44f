"""Datasets: MNIST/Fashion-MNIST, MultiMNIST/MultiFashion, MultiMNIST-Seg and Shapes.

Every dataset yields ``(image, targets)`` where ``targets`` is a dict keyed by task name,
so one trainer can serve every chapter.
"""

from .mnist import DATA_ENV_VAR, RAW_FILES, DataNotFoundError, MNISTDigits, data_root, load_source
from .multimnist import (
    FOREGROUND_THRESHOLD,
    MultiFashion,
    MultiMNIST,
    MultiMNISTSeg,
    build_multimnist,
    build_multimnist_seg,
    compose_pair,
    resize_canvas,
    sample_pairs,
    segmentation_map,
)
from .shapes import CLASS_NAMES, COLOUR_NAMES, Shapes, ShapesConfig, generate_shapes
from .summary import dataset_summary, format_summary

__all__ = [
    "CLASS_NAMES",
    "COLOUR_NAMES",
    "DATA_ENV_VAR",
    "FOREGROUND_THRESHOLD",
    "RAW_FILES",
    "DataNotFoundError",
    "MNISTDigits",
    "MultiFashion",
    "MultiMNIST",
    "MultiMNISTSeg",
    "Shapes",
    "ShapesConfig",
    "build_multimnist",
    "build_multimnist_seg",
    "compose_pair",
    "data_root",
    "dataset_summary",
    "format_summary",
    "generate_shapes",
    "load_source",
    "resize_canvas",
    "sample_pairs",
    "segmentation_map",
]
