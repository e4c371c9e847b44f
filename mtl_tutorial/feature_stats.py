"""Statistics of two sets of feature vectors, for judging generators: the Fréchet distance
(Heusel et al., 2017), live units, improved precision and recall (Kynkäänniemi et al., 2019)
and the Wilson interval of a proportion. :mod:`mtl_tutorial.gan_eval` applies them to a
judge's features of generated and real images and re-exports them.
"""

from __future__ import annotations

import torch

__all__ = [
    "binomial_interval",
    "frechet_distance",
    "frechet_distance_from_stats",
    "gaussian_stats",
    "live_units",
    "precision_recall",
]


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of ``features`` (N, D), in float64."""
    f = features.detach().to(torch.float64)
    if f.dim() != 2 or f.shape[0] < 2:
        raise ValueError(f"need features of shape (N >= 2, D), got {tuple(f.shape)}")
    mu = f.mean(dim=0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (negative eigenvalues -> 0)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance_from_stats(
    mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor
) -> float:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2).

    ``||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^(1/2))``. The trace of the
    matrix square root is computed without the non-symmetric product: with ``S = cov1^(1/2)``,
    ``cov1 cov2`` is similar to the symmetric PSD matrix ``S cov2 S``, so
    ``tr((cov1 cov2)^(1/2)) = sum of sqrt(eigenvalues of S cov2 S)``. Two symmetric
    eigendecompositions, no complex numbers, no scipy.
    """
    mu1, mu2 = mu1.to(torch.float64), mu2.to(torch.float64)
    cov1, cov2 = cov1.to(torch.float64), cov2.to(torch.float64)
    root1 = _sqrt_psd(cov1)
    middle = root1 @ cov2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt
    return max(float(value), 0.0)  # round-off can make a zero distance slightly negative


def frechet_distance(
    features_a: torch.Tensor, features_b: torch.Tensor, mask: torch.Tensor | None = None
) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D).

    ``mask`` (bool, (D,)): use only the feature units where it is True, e.g.
    ``live_units(real_features)``; ``None``: all of them.
    """
    if mask is not None:
        width = {features_a.shape[-1], features_b.shape[-1]}
        if mask.dtype != torch.bool or mask.dim() != 1 or width != {len(mask)} or not mask.any():
            raise ValueError(
                f"mask must be a bool tensor (D,) selecting at least one of the features' D = "
                f"{sorted(width)} units, got {tuple(mask.shape)} {mask.dtype} with "
                f"{int(mask.count_nonzero())} selected; build it with live_units(real_features)"
            )
        mask = mask.cpu()
        features_a, features_b = features_a[:, mask], features_b[:, mask]
    return frechet_distance_from_stats(*gaussian_stats(features_a), *gaussian_stats(features_b))


def live_units(features: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Bool mask (D,): True for the units whose std over ``features`` (N, D) exceeds ``eps``.

    On real images's features, a dead unit (e.g. a ReLU that is 0 on every image) is False.
    """
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"live_units needs features (N >= 2, D), got {tuple(features.shape)}")
    return features.detach().to(torch.float64).std(dim=0) > eps


def binomial_interval(correct: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson interval at ``level`` of a proportion (e.g. a label accuracy): correct of n."""
    counts = all(isinstance(v, int) and not isinstance(v, bool) for v in (correct, n))
    if not counts or n < 1 or not 0 <= correct <= n:
        raise ValueError(
            f"need integer counts n >= 1 and 0 <= correct <= n, got correct={correct!r}, "
            f"n={n!r}; for an accuracy acc on n images pass correct=round(acc * n)"
        )
    if not 0 < level < 1:
        raise ValueError(f"level is a probability in (0, 1), e.g. 0.95, got {level}")
    from scipy.stats import binomtest

    ci = binomtest(correct, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def _kth_neighbour_radii(features: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    if len(features) <= k:
        raise ValueError(f"need more than k={k} samples, got {len(features)}")
    radii = []
    for start in range(0, len(features), chunk):
        d = torch.cdist(features[start : start + chunk], features)
        # the smallest distance is the point itself (0), so the k-th neighbour is index k
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def precision_recall(
    real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3, chunk: int = 1000
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    Each set's manifold is the union of balls around its points, each ball reaching that
    point's k-th nearest neighbour in the same set. ``precision`` is the share of fake
    points inside the real manifold, ``recall`` the share of real points inside the fake
    manifold. Distances are Euclidean, computed in chunks of ``chunk`` rows.
    """
    real = real_features.detach().to(torch.float32)
    fake = fake_features.detach().to(torch.float32)
    real_radii = _kth_neighbour_radii(real, k, chunk)
    fake_radii = _kth_neighbour_radii(fake, k, chunk)
    fake_inside = torch.zeros(len(fake), dtype=torch.bool, device=fake.device)
    real_inside = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    for start in range(0, len(fake), chunk):
        d = torch.cdist(fake[start : start + chunk], real)  # (chunk, N_real)
        fake_inside[start : start + chunk] = (d <= real_radii[None, :]).any(dim=1)
        real_inside |= (d <= fake_radii[start : start + chunk, None]).any(dim=0)
    return float(fake_inside.float().mean()), float(real_inside.float().mean())
