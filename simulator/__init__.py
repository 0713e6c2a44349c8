"""The labelled transaction simulator: the benchmark dataset, its extensions, and its replay.

- ``config``: ``SimulationConfig``, the frozen parameters (defaults = the published benchmark);
- ``generate``: ``generate(config) -> DataFrame``, the published generative process, vectorised;
- ``scenarios`` / ``extensions``: the three published fraud scenarios; the optional attributes,
  drift injection and card-testing scenario;
- ``takeover``: the concept drift, night account takeovers from ``concept_drift_day`` on;
- ``dataset``: parquet/CSV files, ``labels_frame``, ``summarize``;
- ``events`` / ``produce``: rows as wire events in event time, and the Kafka replay;
- ``cli``: ``fraudscore simulate`` and ``fraudscore produce``.
"""
