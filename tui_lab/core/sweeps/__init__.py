"""Hyperparameter sweeps: an Optuna study whose trials are ordinary run folders.

:mod:`space` reads and checks the search space against the settings' declarations,
:mod:`study` opens the study's storage (a journal file, or an RDB URL shared by many machines) and
decides which trials count, :mod:`worker` is one worker process (ask a trial, train it as a run,
report dev metrics to the pruner, tell), :mod:`coordinator` starts K workers bound to devices and
retries the trial of a worker that died, and :mod:`board` reads a sweep folder back for the faces.
"""
