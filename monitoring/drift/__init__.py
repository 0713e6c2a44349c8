"""Drift monitoring: the sidecar that compares scored samples with each model's reference.

Modules, from the edge inwards (nothing is imported here, so ``import monitoring.drift.x`` stays
cheap; only ``report``, ``tracker`` and ``sidecar``'s run load Evidently, which takes 10-20 s):

- ``sidecar``: the visible loop on ``fraud.samples``, Kafka clients, ``fraud.drift`` events;
- ``tracker``: windows per model version and the report step, without Kafka;
- ``window``: the bounded rolling window and when it is due;
- ``report``: the one wrapper around Evidently, returning ``summary.DriftSummary``;
- ``summary``: ``DriftSummary``, ``ColumnDrift``, ``DriftEvent`` (no Evidently import);
- ``store``: report files and retention (``monitoring.index_page`` lists them);
- ``cli``: ``fraudscore drift run | report | index``.
"""
