"""What a sweep worker's first trial would import, imported once by the fork server (:mod:`.warm`).

The fork server imports this module before it forks any worker, so every worker starts with
torch, transformers (the classes and the lazily loaded modules a run reaches: the Auto classes,
the optimisation schedules, the integrations they pull in), Optuna, scikit-learn's metrics,
TensorBoard's writer and tui-lab's training code already in memory. Importing them does not
touch CUDA (no device is queried), so a forked worker can still use a GPU; :mod:`.warm` checks
that in each worker all the same.
"""

from __future__ import annotations

from tui_lab.core.imports import import_heavy, quiet_libraries

import_heavy()
quiet_libraries()

import optuna  # noqa: E402, F401
import sklearn.metrics  # noqa: E402, F401
import torch.utils.tensorboard  # noqa: E402, F401
import transformers  # noqa: E402
import transformers.optimization  # noqa: E402, F401
import transformers.trainer_pt_utils  # noqa: E402, F401

import tui_lab.core.distill  # noqa: E402, F401
import tui_lab.core.sweeps.worker  # noqa: E402, F401
import tui_lab.core.training.eval_loop  # noqa: E402, F401
import tui_lab.core.training.loop  # noqa: E402, F401
import tui_lab.core.training.prepare  # noqa: E402, F401

for _name in ("AutoModelForTokenClassification", "AutoModelForMaskedLM", "DataCollatorWithPadding"):
    getattr(transformers, _name)
