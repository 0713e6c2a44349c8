"""Retraining: a candidate from recent labelled traffic, judged against the served champion.

Built on the rest of ``models`` (training, bundles, registry), which imports nothing from here
but the command line: ``models.cli`` mounts ``retrain/cli``'s commands. Modules, in the order a
retrain runs them (nothing is imported here, so ``import models.retrain.x`` stays cheap):

- ``source``: the labelled traffic, read back from the Kafka topics or from a dataset file;
- ``run``: the training set at a cutoff, the candidate and the champion on one holdout week;
- ``gate``: the promotion gate, a pure decision, then its effect in the registry;
- ``report``: the comparison report (markdown, JSON, PR curves);
- ``cli``: ``fraudscore retrain``, ``fraudscore models gate`` and ``fraudscore models decisions``.
"""
