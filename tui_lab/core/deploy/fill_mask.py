"""Filling ``[MASK]``: a saved masked LM's most probable tokens for each mask of a text.

The console and ``tui-lab predict`` use :class:`FillMaskPredictor` for a model whose
``config.json`` names a masked-LM head; :func:`load_predictor` picks it or the classifier's
:class:`~tui_lab.core.deploy.predictor.Predictor`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_lab.core.deploy.predictor import Predictor, resolve_model_dir
from tui_lab.core.errors import LabError, ModelError
from tui_lab.core.models.loading import check_weights, first_line_of, load_tokenizer
from tui_lab.core.models.masked_lm import is_masked_lm
from tui_lab.core.tasks.predictions import TOP_K, FillMask, fill_result
from tui_lab.core.training.device import pick_device


class FillMaskPredictor:
    """A masked LM filling ``[MASK]`` tokens: the top tokens and their probabilities."""

    def __init__(self, model: Any, tokenizer: Any, source: str, device: str = "cpu") -> None:
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.source = source
        self.device = device
        self.labels: list[str] = []

    @classmethod
    def from_folder(cls, folder: Path, device: str | None = None) -> FillMaskPredictor:
        """Load a saved masked LM (safetensors only).

        Raises:
            ModelError: unloadable weights or tokenizer.
        """
        from transformers import AutoModelForMaskedLM

        device = pick_device(device or "auto", 0, world_size=1)
        tokenizer = load_tokenizer(str(folder))
        check_weights(folder)
        try:
            model = AutoModelForMaskedLM.from_pretrained(folder, use_safetensors=True)
        except Exception as exc:
            raise ModelError(f"{folder} weights could not be loaded: {first_line_of(exc)}.") from None
        return cls(model, tokenizer, str(folder), device)

    def predict(self, texts: list[str], top_k: int = TOP_K) -> list[FillMask]:
        """The ``top_k`` tokens for every mask of each text.

        Raises:
            LabError: a text without the mask token.
        """
        mask = self.tokenizer.mask_token
        for text in texts:
            if mask not in text:
                raise LabError(f"fill-mask needs a {mask} in the text, e.g. 'the food was {mask}': {text!r}.")
        return [self._one(text, top_k) for text in texts]

    def _one(self, text: str, top_k: int) -> FillMask:
        import torch

        enc = self.tokenizer(text, return_tensors="pt", truncation=True)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            logits = self.model(**enc).logits[0].float()  # (T, V)
        where = (enc["input_ids"][0] == self.tokenizer.mask_token_id).nonzero().flatten().tolist()
        if not where:
            raise LabError(f"the {self.tokenizer.mask_token} of {text!r} was cut off by truncation.")
        return fill_result(text, logits[where].softmax(-1).cpu().numpy(), self.tokenizer, top_k)


def load_predictor(path: str | Path, device: str | None = None) -> Any:
    """A :class:`FillMaskPredictor` for a masked LM, else the classifier's :class:`Predictor`."""
    from transformers import AutoConfig

    try:
        folder = resolve_model_dir(path)
        config = AutoConfig.from_pretrained(folder)
    except Exception:
        config = None  # the classifier's loader says what is wrong (a device that is not there first)
    if config is not None and is_masked_lm(config):
        return FillMaskPredictor.from_folder(folder, device)
    return Predictor.from_path(path, device)
