"""Stage 4, training: a run from its settings to its folder of checkpoints and events.

- ``prepare``: data, task, tokenizer, model, token ids, optimiser, schedule and state of a run.
- ``loop``: :class:`~tui_lab.core.training.loop.Trainer`, the training loop (events out).
- ``eval_loop``: evaluating the current weights on a split inside the loop, across ranks.
- ``saving``: ``best/`` and ``last/``; ``runs``: run folders; ``runlog``: the run's folder, sinks
  and background work; ``events``: the events a run emits and their JSON-lines form;
  ``history``: the one fold of a run's events the faces draw; ``tensorboard_sink``.
- ``distributed`` (torchrun), ``device`` (picking it, precision, load readings), ``envinfo``
  (``tui-lab env``), ``optim``, ``clock``, ``hooks``, ``baseline`` (TF-IDF beside the model).
- ``preview``: the data as a run would see it (the Dataset pane); ``detached``: a run as its
  own process that outlives the lab.

Uses tasks, models and data; knows no face.
"""
