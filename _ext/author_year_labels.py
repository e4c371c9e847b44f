"""Author-year labels for the References page (a local Sphinx extension).

The in-text citations use sphinxcontrib-bibtex's ``author_year`` reference style
("Caruana, 1997"), but pybtex's ``plain`` style labels the bibliography entries by
number and ``alpha`` by "[Car97]". This extension registers, the way the
sphinxcontrib-bibtex documentation describes for custom styles (a pybtex plugin
registered from the Sphinx configuration):

* a pybtex label style ``author_year``: "Caruana, 1997", "Kendall et al., 2018",
  "Chen and Koltun, 2018", with "a", "b", ... appended when two entries would
  otherwise share a label;
* a formatting style ``plain_author_year``: pybtex's ``plain`` (sorted by author,
  year, title) with those labels. ``_config.yml`` sets
  ``bibtex_default_style: plain_author_year``.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import latexcodec  # noqa: F401  (registers the "ulatex" codec)
from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person: Any) -> str:
    parts = [*person.prelast_names, *person.last_names]
    text = codecs.decode(" ".join(parts), "ulatex")
    return text.replace("{", "").replace("}", "")


def _base_label(entry: Any) -> str:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in persons]
    if not names:
        who = entry.key
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):  # type: ignore[misc]
    """Label each entry "Author, year" ("Author et al., year" for three or more)."""

    def format_labels(self, sorted_entries: Iterable[Any]) -> Iterator[str]:
        entries = list(sorted_entries)
        labels = [_base_label(e) for e in entries]
        counts = Counter(labels)
        seen: Counter[str] = Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class PlainAuthorYearStyle(PlainStyle):  # type: ignore[misc]
    """pybtex's ``plain`` formatting with author-year labels."""

    default_label_style = "author_year"


register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle)
register_plugin("pybtex.style.formatting", "plain_author_year", PlainAuthorYearStyle)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point: the plugins are registered on import."""
    return {"parallel_read_safe": True, "parallel_write_safe": True}
