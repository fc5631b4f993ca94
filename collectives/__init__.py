"""Collective algorithms, the cost model in two flavors, and the KV-cache model.

Predicting: :func:`collectives.predict.predict` / :func:`~collectives.predict.predict_many` (one
entry point for both flavors) answer with :class:`collectives.results.Prediction`.

* ``registry``: one record per algorithm (closed form, flow pattern, applicability, source);
  a new algorithm is a new record there.
* ``algorithms``: the closed forms; ``patterns``: the flow patterns (phases on the fabric);
  ``communicator``: ranks placed on a fabric; ``placement``: where ranks go.
* ``model``: the ideal flavor; ``nccl_bridge`` with ``nccl``, ``nccl_tables``, ``nccl_tuning``,
  ``nccl_log``: the NCCL flavor; ``bounds``: the bandwidth-optimal bound both report against.
* ``calibration``: what the model reads from a calibration (``ModelCalibration``,
  ``ModelParams``); ``results``: the result types; ``names``: collective names, busbw factors.
* ``kv``, ``prefill``, ``llm``: KV-cache sizes, prefill compute and transfers; ``workload``:
  training-step time and cost.
"""
