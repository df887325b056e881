"""Masked-LM pretraining around the core: unlabelled text, the masked-LM model, fill-mask.

* :func:`load_texts` reads a ``.txt`` file (one text a line) or any supported file's text column
  (labels ignored) and holds 5% out as dev, by the seed.
* :func:`build_model` is a preset BERT from scratch (its WordPiece vocabulary learned first) or
  a hub model / folder continued with ``AutoModelForMaskedLM`` (domain-adaptive pretraining).
* :class:`FillMaskPredictor` fills each ``[MASK]`` of a text with its most probable tokens; the
  console and ``tui-lab predict`` use it for a model whose ``config.json`` names a masked-LM head
  (:func:`is_masked_lm`); :func:`load_predictor` picks it or the classifier's predictor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_lab.core.data import DataBundle, Split, infer_text_column, read_table, resolve_sources
from tui_lab.core.errors import DataError, LabError, ModelError

DEV_SHARE = 0.05  # texts held out as dev
TOP_K = 5


# -- data -----------------------------------------------------------------------------------------
def read_texts(source: str, text_column: str = "") -> list[str]:
    """The non-empty texts of a ``.txt`` file (one a line) or of a table's text column.

    Raises:
        DataError: unreadable, no text column, or no text at all.
    """
    path = Path(source)
    if path.suffix.lower() == ".txt" and path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataError(f"{path} is not UTF-8 text; save it as UTF-8.") from None
        texts = [line.strip() for line in lines]
    else:
        table = read_table(source, "train")
        column = infer_text_column(table, text_column)
        texts = [str(v).strip() for v in table.columns[column] if v is not None]
    texts = [t for t in texts if t]
    if not texts:
        raise DataError(f"{source} has no text to pretrain on; give a file with one text per line.")
    return texts


def load_texts(cfg: Any, seed: int) -> DataBundle:
    """Train and dev texts (5% of them, chosen by ``seed``) with no labels; no test split."""
    import numpy as np

    sources = resolve_sources(cfg)
    texts = read_texts(sources["train"] or "", cfg.text_column)
    if len(texts) < 2:
        raise DataError(f"{sources['train']} has a single text; pretraining needs at least two.")
    order = np.random.default_rng(seed).permutation(len(texts))
    n_dev = max(1, round(len(texts) * DEV_SHARE))
    dev_rows, train_rows = sorted(order[:n_dev].tolist()), sorted(order[n_dev:].tolist())
    split = Split(texts, [0] * len(texts))
    return DataBundle(
        train=split.subset(train_rows),
        dev=split.subset(dev_rows),
        test=None,
        label_names=[],
        text_column=cfg.text_column or "text",
        label_column="",
        sources={"train": str(sources["train"]), "dev": f"{DEV_SHARE:.0%} of train"},
    )


# -- models ---------------------------------------------------------------------------------------
def build_model(config: Any, train_texts: list[str]) -> tuple[Any, Any]:
    """(tokenizer, masked-LM model): a preset from scratch or a pretrained model continued."""
    from tui_lab.core import modeling

    name = config.model.name
    max_length = config.data.max_length
    if modeling.is_preset(name):
        tokenizer = modeling.preset_tokenizer(train_texts, config.model.vocab_size, max(512, max_length))
        return tokenizer, preset_model(name, tokenizer, max_length)
    return load_pretrained(modeling.model_folder(name), max_length, config.model.trust_remote_code)


def preset_model(name: str, tokenizer: Any, max_length: int) -> Any:
    """A randomly initialised ``BertForMaskedLM`` of a preset's shape (no labels in its config)."""
    from tui_lab.core.modeling import build_preset

    model = build_preset(name, tokenizer, [], max_length, head="mlm")
    model.config.id2label = {}  # a language model has no classes (resume compares them with the data's)
    return model


def load_pretrained(name: str, max_length: int, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """Tokenizer and ``AutoModelForMaskedLM`` of a hub id or folder, in fp32, to continue pretraining.

    Raises:
        ModelError: unloadable, no mask token, or no masked-LM head for this architecture.
    """
    from transformers import AutoModelForMaskedLM

    from tui_lab.core import modeling

    config = modeling._auto_config(name, trust_remote_code)
    tokenizer = modeling.load_tokenizer(name, trust_remote_code)
    modeling._check_positions(name, config, max_length)
    if tokenizer.mask_token is None:
        raise ModelError(f"'{name}' has no mask token, so it cannot be pretrained as a masked LM.")
    try:
        model = AutoModelForMaskedLM.from_pretrained(
            name,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            dtype=modeling._torch_dtype("float32"),
        )
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"'{name}' cannot be loaded as a masked language model: {modeling._first(exc)}."
        ) from None
    model.config.id2label = {}
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer, model


def is_masked_lm(model_config: Any) -> bool:
    """Whether a saved model's config names a masked-LM head (``BertForMaskedLM``...)."""
    return any("MaskedLM" in a for a in (getattr(model_config, "architectures", None) or []))


# -- fill-mask ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FillMask:
    """The most probable tokens for the first ``[MASK]`` of a text (shown like a prediction)."""

    text: str
    label: str  # the most probable token
    score: float
    probabilities: dict[str, float]  # token -> probability, most probable first
    candidates: list[list[dict[str, Any]]]  # per mask: [{token, score}], most probable first

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the text and its first mask's candidates as ``[{token, score}]``."""
        out: dict[str, Any] = {"text": self.text, "predictions": self.candidates[0]}
        if len(self.candidates) > 1:
            out["masks"] = self.candidates
        return out


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

        from tui_lab.core.device import pick_device
        from tui_lab.core.modeling import load_tokenizer

        device = pick_device(device or "auto", 0, world_size=1)
        tokenizer = load_tokenizer(str(folder))
        try:
            model = AutoModelForMaskedLM.from_pretrained(folder, use_safetensors=True)
        except Exception as exc:
            raise ModelError(f"{folder} weights could not be loaded: {str(exc).splitlines()[0]}.") from None
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


def fill_result(text: str, mask_probs: Any, tokenizer: Any, top_k: int = TOP_K) -> FillMask:
    """A :class:`FillMask` from each mask's probabilities over the vocabulary (``(M, V)``)."""
    import numpy as np

    candidates = []
    for probs in mask_probs:
        probs = np.asarray(probs, dtype=np.float64)
        top = np.argsort(-probs, kind="stable")[:top_k]
        candidates.append([{"token": tokenizer.decode([int(i)]), "score": float(probs[i])} for i in top])
    first = candidates[0]
    return FillMask(
        text, first[0]["token"], first[0]["score"], {c["token"]: c["score"] for c in first}, candidates
    )


def load_predictor(path: str | Path, device: str | None = None) -> Any:
    """A :class:`FillMaskPredictor` for a masked LM, else the classifier's :class:`Predictor`."""
    from transformers import AutoConfig

    from tui_lab.core.predict import Predictor, resolve_model_dir

    try:
        folder = resolve_model_dir(path)
        config = AutoConfig.from_pretrained(folder)
    except Exception:
        config = None  # the classifier's loader says what is wrong (a device that is not there first)
    if config is not None and is_masked_lm(config):
        return FillMaskPredictor.from_folder(folder, device)
    return Predictor.from_path(path, device)


def pretrained_runs(output_dir: str | Path) -> list[str]:
    """Finished pretraining runs in ``output_dir`` that have a ``best/`` (newest first): the
    folders a classifier can be fine-tuned from (``model.name``)."""
    from tui_lab.core import checkpoint
    from tui_lab.core.config import tomllib
    from tui_lab.core.runs import CONFIG_FILE

    root = Path(output_dir).expanduser()
    found: list[tuple[float, str]] = []
    for run in root.iterdir() if root.is_dir() else ():
        try:
            task = tomllib.loads((run / CONFIG_FILE).read_text(encoding="utf-8")).get("model", {}).get("task")
            last = checkpoint.resolve(run / "last")
            finished = last is not None and checkpoint.load_state(last).get("finished", False)
        except (OSError, ValueError, LabError):
            continue
        if task == "pretrain" and finished and checkpoint.resolve(run / "best") is not None:
            found.append((run.stat().st_mtime, str(Path(output_dir) / run.name)))
    return [path for _, path in sorted(found, reverse=True)]
