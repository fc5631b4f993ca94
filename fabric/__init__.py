"""The fabric modeler's core: units, catalog, graph conventions, routing, flows and cost.

Core modules import only the standard library, numpy, scipy and networkx. The command line lives
in :mod:`fabric.cli` and the ``fabric/cmd_*.py`` modules, which are the only parts of this package
that import :mod:`topologies`, :mod:`collectives`, :mod:`measure` or :mod:`reports`.
"""

from fabric.errors import InfeasibleError

__version__ = "0.1.0"
__all__ = ["InfeasibleError", "__version__"]
