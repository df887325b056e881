"""A student made of K of its teacher's layers (DistilBERT's initialisation).

The student is the teacher's architecture with ``num_hidden_layers = K``: the embeddings, the
pooler and the classifier are copied, and encoder layer ``j`` is the teacher's layer
``chosen[j]``, spread evenly over the teacher's depth (every other layer of a teacher twice as deep).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tui_lab.core.errors import ModelError, setting_ref

_LAYER_KEY = re.compile(r"^(.*\.layers?\.)(\d+)(\..*)$")  # bert.encoder.layer.3.attention...


def chosen_layers(n: int, k: int) -> list[int]:
    """The ``k`` teacher layers (of ``n``) a student keeps: evenly spread, the first always in.

    Raises:
        ModelError: ``k`` is not between 1 and ``n - 1``.
    """
    if not 1 <= k < n:
        raise ModelError(
            f"{setting_ref('train.student_layers', str(k))} must be between 1 and {n - 1}: the teacher has "
            f"{n} layers and the student fewer."
        )
    return [i * n // k for i in range(k)]


def shrink(model: Any, k: int) -> tuple[Any, list[int]]:
    """A copy of ``model`` with ``k`` of its encoder layers (see :func:`chosen_layers`).

    Returns:
        (the student, the teacher layers it was built from)
    """
    n = int(model.config.num_hidden_layers)
    chosen = chosen_layers(n, k)
    config = copy.deepcopy(model.config)
    config.num_hidden_layers = k
    student = type(model)(config)
    state: dict[str, Any] = {}
    for key, value in model.state_dict().items():
        match = _LAYER_KEY.match(key)
        if match is None:
            state[key] = value  # embeddings, pooler, classifier
        elif int(match.group(2)) in chosen:
            state[f"{match.group(1)}{chosen.index(int(match.group(2)))}{match.group(3)}"] = value
    student.load_state_dict(state, strict=True)
    return student, chosen
