"""Drift monitoring: the sidecar that compares scored samples with each model's reference.

Modules, from the edge inwards (nothing is imported here, so ``import monitoring.x`` stays cheap;
only ``drift``, ``tracker`` and ``sidecar`` load Evidently, which takes 10-20 s):

- ``sidecar``: the visible loop on ``fraud.samples``, Kafka clients, ``fraud.drift`` events;
- ``tracker``: windows per model version and the report step, without Kafka;
- ``window``: the bounded rolling window and when it is due;
- ``drift``: the one wrapper around Evidently, returning ``summary.DriftSummary``;
- ``summary``: ``DriftSummary``, ``ColumnDrift``, ``DriftEvent`` (no Evidently import);
- ``store`` / ``index_page``: report files, retention, ``index.html``;
- ``metrics`` / ``serve``: Prometheus gauges, the ``/metrics`` + reports HTTP server;
- ``cli``: ``fraudscore drift run | report | index``; ``errors``: the exception tree.
"""
