"""Live model performance from delayed labels: ``fraud.scores`` joined with ``fraud.labels``.

Modules, from the edge inwards (nothing is imported here, so ``import monitoring.performance.x``
stays cheap; ``table`` and ``store`` load pandas and scikit-learn):

- ``run``: the visible loop on scores and labels, Kafka clients, alarm events (own process);
- ``evaluate``: one evaluation without Kafka: table, ``performance.json``, index, gauges, alarm;
- ``store``: the durable join in SQLite (score records waiting for their labels);
- ``table``: the pure core: merge rules and the per-(model version, event day) numbers;
- ``alarm``: live performance against the bundle's expected operating point;
- ``types``: ``DayPerformance``, ``PerformanceSnapshot``, ``PerformanceAlarm`` (no pandas);
- ``cli``: ``fraudscore perf run | show``.
"""
