"""``fraudscore bench``: throughput and latency of one worker process, next to its baselines.

Every variant runs on the real broker and Redis, in the same run, on its own topics, consumer
group and Redis key prefix (``benchmarks.infra``), fed the same simulated events
(``benchmarks.data``):

- ``worker``: the real worker as one subprocess (``python -m cli.main worker``), at saturation
  on a pre-loaded backlog and at fixed offered rates (``benchmarks.harness``);
- ``naive``: the same job one message at a time (``benchmarks.naive``);
- ``passthrough``: consume -> produce the same bytes, no processing: the Kafka ceiling
  (``benchmarks.passthrough``);
- a cProfile of the worker loop, broken down by stage (``benchmarks.profiling``).

Throughput and latency are read from Kafka timestamps (output topics use ``LogAppendTime``), the
same way for every variant; ``benchmarks.report`` writes ``report.json`` and ``report.md``.
"""
