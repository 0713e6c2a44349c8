"""Training, evaluation, bundling and serving-side scoring of the fraud model.

Modules, in the order data flows through them:

- ``data``: read a transactions dataset (parquet/CSV, published columns);
- ``protocol``: the benchmark's folds (7 days train, 7 gap, 7 test; known-compromised dropped);
- ``metrics``: AUC, average precision, card precision@k as published;
- ``train``: LightGBM on the offline features, early stopping on the past, test-week metrics;
- ``thresholds``: review/block thresholds from a daily card budget or a target precision;
- ``bundle`` / ``registry``: versioned bundle directories, the ``current`` pointer, rollback;
- ``scorer`` / ``reasons``: batch probabilities (LightGBM or lleaves) and alert reasons;
- ``cli``: ``fraudscore train`` and ``fraudscore models list|promote|rollback``;
- ``tune``: the hyper-parameter search on the validation folds; ``synthetic``: small test data;
- ``retrain``: retraining from recent labelled traffic and the promotion gate (a sub-package).

Errors: see ``models.errors`` (one small tree, all under ``ModelsError``).
"""
