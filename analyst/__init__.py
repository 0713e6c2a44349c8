"""Tools for fraud analysts: tail the alerts topic, send fraud/legit labels.

``analyst.cli`` holds the commands (``fraudscore alerts tail``, ``fraudscore label``);
``analyst.alerts`` and ``analyst.labels`` are the pure core (rendering, filters, dedup, label
validation); ``analyst.kafka`` is the only module that talks to the broker. Errors are listed in
``analyst.errors``.
"""
