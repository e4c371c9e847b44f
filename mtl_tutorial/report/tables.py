"""Markdown tables and sentences for the book, built from the recorded results.

Every function returns text; a notebook shows it with ``display(Markdown(...))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from . import results
from .family import Family, Verdict

__all__ = [
    "comparison_table",
    "describe",
    "markdown_table",
    "method_table",
    "summary_row",
    "verdict_table",
]

Formats = Mapping[str, tuple[float, int]]  # column -> (scale, digits)


def _cell(value: float | tuple[float, float, int] | str | None, scale: float, digits: int) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        mean, std, n = value
        return (
            f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"
            if n > 1
            else f"{mean * scale:.{digits}f}"
        )
    return f"{value * scale:.{digits}f}"


def markdown_table(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    formats: Formats | None = None,
) -> str:
    """Render rows as a Markdown table; tuples ``(mean, std, n)`` print as ``mean ± std``.

    ``formats`` maps a column to ``(scale, digits)``, e.g. ``{"acc_left": (100, 2)}`` for percent.

    >>> print(markdown_table([{"a": (0.5, 0.1, 3), "n": 3}], ["a", "n", "b"], {"a": (100, 1)}))
    | a | n | b |
    | --- | --- | --- |
    | 50.0 ± 10.0 | 3 | – |
    """
    formats = formats or {}
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        cells = []
        for c in columns:
            scale, digits = formats.get(c, (1.0, 3))
            value = row.get(c)
            cells.append(_cell(value, scale, digits) if not isinstance(value, int) else str(value))  # type: ignore[arg-type]  # the int check above narrows what mypy cannot
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_row(
    name: str,
    metrics: Sequence[str],
    baselines: Mapping[str, str] | None = None,
    higher_is_better: Mapping[str, bool] | None = None,
) -> dict[str, object]:
    """One results-table row for ``name``, for :func:`markdown_table`.

    Keys: ``experiment``, ``seeds``, each of ``metrics`` that ``name`` records (mean, std,
    n), ``Δm (%)`` of the means against ``baselines`` (None without baselines), ``params``,
    ``epochs``, ``time/run (s)`` and ``device``.
    """
    recorded = results.metric_names(name)
    row: dict[str, object] = {"experiment": name, "seeds": len(results.seeds(name))}
    row.update({m: results.mean_std(name, m) for m in metrics if m in recorded})
    if "params" in recorded:
        row["params"] = f"{int(results.mean_std(name, 'params')[0]):,}"
    row["Δm (%)"] = (
        results.delta_m_of_means(name, baselines, higher_is_better or {}) if baselines else None
    )
    info = results.run_info(name)
    row["epochs"] = ", ".join(str(e) for e in info["epochs"])  # type: ignore[attr-defined]  # run_info's values are typed object; epochs is a list
    row["time/run (s)"] = f"{info['wall_time_s']:.0f}"
    row["device"] = ", ".join(info["device"])  # type: ignore[arg-type]  # run_info's values are typed object; device is a list of str
    return row


def method_table(
    methods: Mapping[str, str],
    metrics: Sequence[str],
    baselines: Mapping[str, str],
    higher_is_better: Mapping[str, bool],
    formats: Formats,
    time_ratio: Mapping[str, float] | None = None,
) -> str:
    """One row per method (``methods`` maps it to its experiment) that has results.

    Columns: the seeds, ``metrics`` (mean ± std), Δm of the means, the time per step
    relative to equal weights (only if ``time_ratio`` is given) and the time per run.
    """
    rows = [
        {"method": method, **summary_row(name, metrics, baselines, higher_is_better)}
        for method, name in methods.items()
        if results.has_results(name)
    ]
    if time_ratio is not None:
        for row in rows:
            row["time/step vs equal"] = time_ratio.get(str(row["method"]))
    timing = ["time/step vs equal"] if time_ratio is not None else []
    columns = ["method", "seeds", *metrics, "Δm (%)", *timing, "time/run (s)"]
    return markdown_table(
        rows, columns, {**formats, "Δm (%)": (100, 2), "time/step vs equal": (1, 2)}
    )


def verdict_table(
    family: Family,
    methods: Mapping[str, str],
    reference: str,
    scales: Mapping[str, float],
) -> tuple[str, dict[str, int]]:
    """Each method minus the ``reference`` method, per metric and in Δm, and the verdict counts.

    ``methods`` maps a method to its experiment; the metrics are the keys of ``scales``
    (the factor a difference is shown with; Δm is shown in points). The verdicts are the
    paired ones of ``family``, where :meth:`Family.compare_methods` added them; a method
    with one seed is listed without a verdict.
    """
    same, differs = f"no detectable difference from {reference}", f"differs from {reference}"
    single = "one seed: no verdict"
    counts = {same: 0, differs: 0, single: 0}
    rows = []
    for method, name in methods.items():
        if method == reference or not results.has_results(name):
            continue
        n_seeds = len(results.seeds(name))
        row: dict[str, object] = {"method": method, "seeds": n_seeds}
        if n_seeds < 2:
            row.update({m: "–" for m in [*scales, "Δm"]}, verdict=single)
            counts[single] += 1
            rows.append(row)
            continue
        found = family.results(name, methods[reference], [*scales, "Δm"])
        notes = []
        for m, scale in {**scales, "Δm": 100}.items():
            v = found[m]
            row[m] = f"{scale * v.diff:+.2f} ({scale * v.ci_low:+.2f}, {scale * v.ci_high:+.2f})"
            if v.verdict in ("better", "worse"):
                notes.append(f"{v.verdict} on {m}")
        row["verdict"] = "; ".join(notes) if notes else same
        counts[same if not notes else differs] += 1
        rows.append(row)
    return markdown_table(rows, ["method", "seeds", *scales, "Δm", "verdict"]), counts


def comparison_table(comparisons: Iterable[Verdict], formats: Formats) -> str:
    """Paired comparisons as a table, differences in the units of the results table."""
    rows = []
    for c in comparisons:
        scale, digits = formats[c.metric]
        f = f"{{:+.{digits}f}}"
        rows.append(
            {
                "model": c.model,
                "reference": c.reference,
                "metric": c.metric,
                "paired seeds": c.n,
                "difference": f.format(scale * c.diff),
                "95 % CI": f"{f.format(scale * c.ci_low)} to {f.format(scale * c.ci_high)}",
                "Holm p": f"{c.p_holm:.2g}",
                "verdict": c.verdict,
            }
        )
    columns = [
        "model",
        "reference",
        "metric",
        "paired seeds",
        "difference",
        "95 % CI",
        "Holm p",
        "verdict",
    ]
    return markdown_table(rows, columns)


def describe(label: str, comparison: Verdict, formats: Formats) -> str:
    """``label +1.23 (95 % CI +0.45 to +2.01; better)``, in the units of the results table."""
    scale, digits = formats[comparison.metric]
    f = f"{{:+.{digits}f}}"
    return (
        f"{label} {f.format(scale * comparison.diff)} (95 % CI {f.format(scale * comparison.ci_low)} "
        f"to {f.format(scale * comparison.ci_high)}; {comparison.verdict})"
    )
