"""Model monitoring: two jobs, each its own process and sub-package, sharing one reports folder.

- ``drift``: the sidecar that compares scored samples with each model's reference (Evidently),
  ``fraudscore drift run | report | index``;
- ``performance``: live performance from delayed labels and the degradation alarm,
  ``fraudscore perf run | show``.

What both use stays here: ``edges`` (topic check, records, HTTP server and ``fraud.drift``
publishing, on the kernel's plumbing), ``index_page`` (the reports folder's ``index.html``,
showing both), ``metrics`` (the Prometheus gauges of both), ``cli_common`` (settings and
one-red-line errors of both command groups) and ``errors`` (the exception tree). Nothing is
imported here, so ``import monitoring.x`` stays cheap; only ``drift.report``, ``drift.tracker``
and ``drift.sidecar``'s run load Evidently, which takes 10-20 s.
"""
