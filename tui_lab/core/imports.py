"""One place that imports the heavy libraries, once, under a lock.

``transformers`` resolves its attributes lazily, and two threads that import it at the same time
can see a half-initialised module (``module 'transformers' has no attribute ...``). The lab has
several workers (dataset, training, prediction, a warm-up); each calls :func:`import_heavy`
first, so the first one imports everything and the others wait for it.

:func:`quiet_libraries` turns off the libraries' own progress bars and warnings (transformers'
"Loading weights" bar, datasets' "Generating split" bar): the faces show their own progress.
"""

from __future__ import annotations

import os
import sys
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

        quiet_libraries()
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


def quiet_libraries() -> None:
    """Silence the progress bars and info/warning logs of transformers, datasets and the hub.

    The CLI calls it before it loads a model or data (``predict`` then writes nothing on stderr);
    the lab through :func:`import_heavy`. Errors are still logged. ``datasets`` (a second to
    import) is not imported for this: when it is not loaded yet, the environment variables it
    reads at import say the same (``predict`` and ``serve`` never load it).
    """
    import huggingface_hub.utils
    import transformers.utils.logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
    if "datasets" in sys.modules:
        import datasets

        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
    else:
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("DATASETS_VERBOSITY", "error")
