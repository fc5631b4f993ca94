"""The use cases: evaluate a fabric, compare families, plan capex, KV-cache scenarios.

Each study takes plain values (a :class:`~studies.design.FabricDesign`, counts, names) and returns
typed results that the command line prints and :mod:`reports` renders. One
:func:`~studies.evaluate.evaluate_fabric` answers "what does this fabric cost and how fast is it"
for compare, report and sweeps alike, so they cannot disagree.

Layering: studies import :mod:`measure`, :mod:`collectives`, :mod:`topologies` and the
:mod:`fabric` core; nothing below imports studies, and studies never import :mod:`reports` or
the command line.
"""
