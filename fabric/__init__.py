"""The fabric modeler's core: units, catalog, graph conventions, routing, flows and cost.

Core modules import only the standard library, numpy, scipy and networkx, and none of the
project's other packages. The command line is the subpackage :mod:`fabric.cli`, the top layer:
it may import everything, and nothing imports it (``docs/architecture.md``).
"""

from fabric.errors import InfeasibleError

__version__ = "0.1.0"
__all__ = ["InfeasibleError", "__version__"]
