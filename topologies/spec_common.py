"""What the spec-file readers and writers share: the formats, the error type, value helpers.

:mod:`topologies.spec` (the public face), :mod:`topologies.spec_read` (YAML/JSON to a graph),
:mod:`topologies.spec_write` (a graph to YAML/JSON) and :mod:`topologies.graphml` all import
this module and none of them imports another of the three readers/writers.

>>> spec_format("cluster.yml"), one_line("two\\n  lines"), short("x" * 100, limit=10)
('yaml', 'two lines', "'xxxxxx...")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fabric.catalog import Catalog, default_catalog, load_catalog

__all__ = [
    "FORMATS",
    "SPEC_SUFFIXES",
    "SPEC_VERSION",
    "GRAPH_KEYS",
    "SCALARS",
    "SpecError",
    "one_line",
    "short",
    "plain",
    "resolve_catalog",
    "spec_format",
]

#: The spec formats, as ``format=`` takes them.
FORMATS = ("yaml", "json", "graphml")
#: File suffix -> format.
SPEC_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".graphml": "graphml"}
#: The ``spec_version`` this code reads and writes.
SPEC_VERSION = 1
#: ``G.graph`` keys a spec holds at its top level (the others go under ``graph``).
GRAPH_KEYS = ("topology", "params", "catalog", "name")
#: The attribute value types every spec format holds as they are.
SCALARS = (str, int, float, bool)


class SpecError(ValueError):
    """A problem in a spec file, with where it is.

    Attributes
    ----------
    path
        The file.
    location
        The place in the document, such as ``links[3].b`` ("" for the whole file).
    line
        1-based line number where known, else None.
    """

    def __init__(self, message: str, *, path: str, location: str = "", line: int | None = None):
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {location}: {message}" if location else f"{where}: {message}")
        self.path = path
        self.location = location
        self.line = line


def one_line(text: object) -> str:
    """``str(text)`` with every run of whitespace (newlines too) made one space."""
    return " ".join(str(text).split())


def short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (user data can be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plain(value: Any) -> Any:
    """Python scalars and containers only (numpy scalars become Python ones, tuples lists)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, SCALARS):
        return item()
    return value


def resolve_catalog(catalog: Catalog | str | Path | None) -> Catalog:
    """``catalog`` itself, the catalog TOML file it names, or the built-in one for None."""
    if catalog is None:
        return default_catalog()
    if isinstance(catalog, Catalog):
        return catalog
    return load_catalog(catalog)


def spec_format(path: str | Path, format: str | None = None) -> str:
    """The spec format of ``path``: ``format`` if given, else from the suffix.

    >>> spec_format("cluster.yml"), spec_format("x.out", "json")
    ('yaml', 'json')

    Raises
    ------
    ValueError
        If ``format`` is not one of yaml, json, graphml, or the suffix is not a spec suffix.
    """
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in SPEC_SUFFIXES:
        raise ValueError(f"spec file must end in {', '.join(SPEC_SUFFIXES)}, got {str(path)!r}")
    return SPEC_SUFFIXES[suffix]
