"""Token-classification (NER) models in ``tui-lab export``: the per-token forward pass, both backends.

A ``*ForTokenClassification`` checkpoint exports like a text classifier; only what is compared
differs. :class:`TokenLogits` answers the logits of every real token (padding dropped), texts in
order, so the export's checks (max |Δ logit|, int8 agreement) and timings run unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_lab.core.data.tagged import TOKEN_SUFFIXES, read_sentences
from tui_lab.core.deploy.eval_file import eval_source, eval_split
from tui_lab.core.deploy.predictor import TOKENIZER_FILES, OrtBackend, TorchBackend, find_onnx
from tui_lab.core.errors import LabError, ModelError
from tui_lab.core.models.loading import check_weights, load_tokenizer

# timed and compared on these when the run's own texts cannot be read
SAMPLE_TEXTS = [
    "Ada Lovelace worked with Charles Babbage in London.",
    "The meeting in Paris moved to Tuesday.",
    "Acme Corp hired Maria Garcia as chief engineer.",
    "We flew from New York to Tokyo on Japan Airlines.",
    "Barack Obama visited Berlin in 2013.",
    "the river Thames runs through Oxford",
] * 8
ACCURACY_SKIPPED = (
    "token accuracy needs the tagged dev split; max |Δ logit| and int8 token agreement stand in"
)


class TokenLogits:
    """A token classifier's forward pass on raw texts (PyTorch or ONNX Runtime).

    Attributes:
        labels: tag names in id order.
        backend: the forward pass (``backend.name`` is ``"pytorch"`` or ``"onnx"``).
    """

    def __init__(self, backend: Any, tokenizer: Any, labels: list[str], max_length: int) -> None:
        self.backend, self.tokenizer, self.labels, self.max_length = backend, tokenizer, labels, max_length

    @classmethod
    def from_path(
        cls, path: str | Path, device: str = "cpu", backend: str = "auto", threads: int | None = None
    ) -> TokenLogits:
        """Load a checkpoint folder (PyTorch) or an exported ``.onnx`` file with its folder.

        Raises:
            ModelError: an export folder without its tokenizer.
        """
        from transformers import AutoConfig, AutoModelForTokenClassification

        p = Path(path)
        onnx_file = find_onnx(p) if backend != "pytorch" else None
        folder = onnx_file.parent if onnx_file else p
        if onnx_file and not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ModelError(
                f"{folder} has no tokenizer files (tokenizer.json); re-export it with tui-lab export."
            )
        config = AutoConfig.from_pretrained(folder)
        if onnx_file:
            runner: Any = OrtBackend(onnx_file, threads)
        else:
            check_weights(folder)
            model = AutoModelForTokenClassification.from_pretrained(folder, use_safetensors=True)
            runner = TorchBackend(model.to(device), device)
        labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        max_length = min(getattr(config, "max_position_embeddings", 512) or 512, 512)
        return cls(runner, load_tokenizer(str(folder), False), labels, max_length)

    def logits(self, texts: list[str], batch_size: int = 64) -> Any:
        """Logits of every real token, shape (tokens, labels), texts in order."""
        import numpy as np

        out = []
        for start in range(0, len(texts), batch_size):
            enc = dict(
                self.tokenizer(
                    texts[start : start + batch_size],
                    truncation=True,
                    padding=True,
                    max_length=self.max_length,
                    return_tensors="np",
                )
            )
            out.append(self.backend.logits(enc)[enc["attention_mask"].astype(bool)])
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)


def token_texts(path: str | Path, data: str | None) -> list[str]:
    """``data``'s texts (a CoNLL or tokens/tags file, or a labelled text table), else the run's
    texts when they can be read as text rows, else :data:`SAMPLE_TEXTS`.

    Raises:
        LabError: ``data`` was given and cannot be read.
    """
    if data:
        try:
            texts: list = read_sentences(eval_source(data))[0]
        except LabError as exc:
            if Path(data).suffix.lower() in TOKEN_SUFFIXES:
                raise
            try:
                texts = eval_split(path, data)[0]
            except LabError:
                raise exc from None
    else:
        try:
            texts = eval_split(path, None)[0]
        except (LabError, ValueError, KeyError, TypeError):
            return list(SAMPLE_TEXTS)
    return [t if isinstance(t, str) else " ".join(map(str, t)) for t in texts] or list(SAMPLE_TEXTS)
