"""The decision core: validated events + online aggregates + model -> decisions and outputs.

No Kafka, no sockets, no clocks: the streaming worker, an inline API and an offline replay all
call the same functions, so the same events give the same features, scores and alerts.

- ``model``: what the core needs of a model (``ScoringModel``);
- ``features``: events to store inputs and, with the store's raw aggregates, to the matrix;
- ``core``: ``decide``, one predict call per batch, reasons for the flagged rows only;
- ``outputs``: decisions to output records (alerts, score records, samples).
"""
