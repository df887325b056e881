"""Serving a trained classifier: labels and per-class probabilities for a batch of texts.

The saved model's task (from ``problem_type`` in its ``config.json``) turns logits into
probabilities and a prediction: the arg-max class, or every label over a multi-label model's
saved threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core import checkpoint
from tui_lab.core.errors import ModelError


@dataclass(frozen=True)
class Prediction:
    """The label of one text and the probability of every class."""

    text: str
    label: str
    score: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "text": self.text,
            "label": self.label,
            "score": self.score,
            "probabilities": self.probabilities,
        }


@dataclass(frozen=True)
class MultiLabelPrediction(Prediction):
    """A multi-label model's answer: ``labels`` are those at or over ``threshold`` (most probable
    first), ``label`` is them joined with ``|``, ``score`` the highest probability."""

    labels: list[str] = field(default_factory=list)
    threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: every label's score plus the chosen set and the threshold."""
        return {**super().to_dict(), "labels": self.labels, "threshold": self.threshold}


def resolve_model_dir(path: str | Path) -> Path:
    """The model folder behind a run folder (its ``best/``, else ``last/``) or a model folder.

    Raises:
        ModelError: nothing loadable there.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"{p} does not exist; give a run folder or a model folder.")
    if not p.is_dir():
        raise ModelError(f"{p} is a file; give a run folder or a model folder (with config.json).")
    for candidate in (p / "best", p / "last", p):
        found = checkpoint.resolve(candidate)
        if found is not None:
            return found
    raise ModelError(
        f"{p} holds no model yet (no best/, last/ or config.json); train one with tui-lab train."
    )


class Predictor:
    """A loaded classifier. Thread-safe for concurrent ``predict`` calls under inference mode."""

    def __init__(
        self, model: Any, tokenizer: Any, max_length: int = 512, device: str = "cpu", source: str = ""
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.device = device
        self.source = source
        from tui_lab.core.tasks import task_for_model

        self.task = task_for_model(model.config)  # decodes: softmax + arg-max, or sigmoid + threshold
        self.labels = self.task.label_names
        self._accepts = _forward_args(model)

    @classmethod
    def from_path(
        cls, path: str | Path, device: str | None = None, trust_remote_code: bool = False
    ) -> Predictor:
        """Load from a run folder or a Hugging Face model folder.

        Raises:
            ModelError: not a classifier folder, or it cannot be loaded.
        """
        from transformers import AutoConfig, AutoModelForSequenceClassification

        from tui_lab.core.device import pick_device
        from tui_lab.core.modeling import check_classifier, load_tokenizer

        folder = resolve_model_dir(path)
        try:
            config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
        except Exception as exc:
            raise ModelError(f"{folder}/config.json is unreadable: {str(exc).splitlines()[0]}.") from None
        check_classifier(str(folder), config)
        tokenizer = load_tokenizer(str(folder), trust_remote_code)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                folder, trust_remote_code=trust_remote_code, use_safetensors=True
            )
        except Exception as exc:
            raise ModelError(
                f"{folder} weights could not be loaded (only safetensors are read): "
                f"{str(exc).splitlines()[0]}."
            ) from None
        device = device or pick_device()
        max_length = min(
            getattr(config, "max_position_embeddings", 512) or 512,
            int(getattr(tokenizer, "model_max_length", 512) or 512),
            8192,
        )
        return cls(model.to(device), tokenizer, max_length, device, str(folder))

    def predict(self, texts: list[str], batch_size: int = 64) -> list[Prediction]:
        """Label and probabilities for each text (empty texts are allowed)."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: dict[int, Prediction] = {}
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                ids = order[start : start + batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in ids],
                    truncation=True,
                    padding=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                batch = {k: v.to(self.device) for k, v in enc.items() if k in self._accepts}
                probs = self.task.outputs(self.model(**batch).logits).tolist()
                for i, row in zip(ids, probs):
                    results[i] = self.task.decode(texts[i], row)
        return [results[i] for i in range(len(texts))]


def _forward_args(model: Any) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)
