"""One place that imports the heavy libraries, once, under a lock.

``transformers`` resolves its attributes lazily, and two threads that import it at the same time
can see a half-initialised module (``module 'transformers' has no attribute ...``). The lab has
several workers (dataset, training, prediction, a warm-up); each calls :func:`import_heavy`
first, so the first one imports everything and the others wait for it.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_done = False


def import_heavy() -> None:
    """Import torch, transformers (and the classes the core uses), datasets and scikit-learn."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        import datasets  # noqa: F401
        import sklearn.linear_model  # noqa: F401
        import torch  # noqa: F401
        import transformers

        for name in (
            "PreTrainedTokenizerBase",
            "AutoTokenizer",
            "AutoConfig",
            "BertTokenizerFast",
            "AutoModelForSequenceClassification",
            "BertForSequenceClassification",
            "BertConfig",
        ):
            getattr(transformers, name)
        _done = True
