"""Masked-LM pretraining: unlabelled text, 15% of tokens masked, cross-entropy on the masked ones.

Masking is transformers' own ``DataCollatorForLanguageModeling.torch_mask_tokens`` (80% ``[MASK]``,
10% a random token, 10% unchanged; whole-word masking masks every piece of a chosen word, always
with ``[MASK]``, as transformers does); special tokens and padding are never chosen.

Where the random numbers come from:

* training batches draw from torch's global generator, as the collator does by default; the
  trainer seeds it from ``train.seed`` and saves and restores it (per rank) in ``last/``, so the
  masks are a function of the seed, epoch and step, and a resumed run masks exactly as an
  uninterrupted one (the order of batches is also fixed by the seed);
* evaluation masks each row with a generator seeded by the row's own token ids, so the dev set
  is masked the same way at every evaluation (and in every run, whatever the batch size), and
  the losses are comparable; evaluating draws nothing from the global generator. A dev row the
  draw left without a mask gets one (chosen by the same generator), so a dev set of one or two
  short texts still has something to measure.

Evaluation keeps three numbers a row (summed cross-entropy, masked tokens, correct guesses);
the metrics are their totals: ``loss`` (mean cross-entropy per masked token), ``perplexity``
(``exp(loss)``) and ``masked_accuracy``.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.data.batching import TokenArrays, encode, pad_batch
from tui_lab.core.data.files import resolve_sources
from tui_lab.core.data.texts import load_texts
from tui_lab.core.errors import DataError
from tui_lab.core.models.masked_lm import build_model
from tui_lab.core.tasks.base import Task
from tui_lab.core.tasks.predictions import fill_result

IGNORE = -100  # label of a position that is not predicted (transformers' convention)
WORD_STARTS = ("▁", "Ġ")  # SentencePiece / byte-level BPE mark a word's first piece


class MaskedLMTask(Task):
    """Pretrain (or continue pretraining) a masked language model on unlabelled text."""

    name = "pretrain"
    default_metric = "loss"
    metric_names = ("loss", "perplexity", "masked_accuracy")
    lower_is_better = frozenset({"loss", "perplexity"})
    head = "mlm"  # heads.HEADS: saved as BertForMaskedLM, loaded with AutoModelForMaskedLM
    problem_type = "masked_lm"  # never a classifier's problem_type: saved models say BertForMaskedLM

    def __init__(self, label_names: list[str]) -> None:
        super().__init__(label_names)
        self.mlm_probability = 0.15
        self.whole_word_mask = False
        self.tokenizer: Any = None
        self._special: np.ndarray | None = None  # (V,) bool: never masked
        self._continues: np.ndarray | None = None  # (V,) bool: a piece inside a word
        self._collator: Any = None

    @classmethod
    def from_config(cls, config: Any, label_names: list[str]) -> MaskedLMTask:
        """The task with the run's masking share and whole-word masking."""
        task = cls(label_names)
        task.mlm_probability = config.train.mlm_probability
        task.whole_word_mask = config.train.whole_word_mask
        return task

    @classmethod
    def detect(cls, cfg: Any) -> str:
        """Why the data is unlabelled text: a ``.txt`` train file (one text a line), or ``""``."""

        try:
            train = resolve_sources(cfg)["train"] or ""
        except DataError:
            return ""
        return f"{Path(train).name} is plain text, one text a line" if train.lower().endswith(".txt") else ""

    # -- data ----------------------------------------------------------------------------------
    @classmethod
    def load_data(cls, cfg: Any, seed: int) -> Any:
        """Texts of a ``.txt`` file or a table's text column; 5% held out as dev; no labels."""

        return load_texts(cfg, seed)

    def encode(
        self, tokenizer: Any, texts: Sequence[Any], labels: Sequence[Any], max_length: int
    ) -> tuple[TokenArrays, np.ndarray]:
        """Token ids (the targets are made from them when a batch is masked); learns the
        tokenizer's special tokens and word pieces."""

        self.bind_encoding(tokenizer, max_length)
        return encode(tokenizer, texts, max_length), self.targets(labels)

    def bind_encoding(self, tokenizer: Any, max_length: int) -> None:
        """Learn the tokenizer's special tokens and word pieces (what masking reads)."""
        if tokenizer is not self.tokenizer:
            self._learn_vocabulary(tokenizer)

    def _learn_vocabulary(self, tokenizer: Any) -> None:
        size = len(tokenizer)
        pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
        self._special = np.zeros(size, dtype=bool)
        self._special[[i for i in tokenizer.all_special_ids if i < size]] = True
        if any(p.startswith("##") for p in pieces if p):
            self._continues = np.array([bool(p) and p.startswith("##") for p in pieces])
        elif any(p.startswith(WORD_STARTS) for p in pieces if p):
            self._continues = np.array([bool(p) and not p.startswith(WORD_STARTS) for p in pieces])
        else:
            self._continues = np.zeros(size, dtype=bool)
        self.tokenizer, self._collator = tokenizer, None

    def targets(self, labels: Sequence[Any]) -> np.ndarray:
        """A placeholder per row: the labels are the masked tokens, drawn per batch."""
        return np.zeros(len(labels), dtype=np.int8)

    def collate(
        self, tokens: TokenArrays, idx: Sequence[int], targets: np.ndarray | None, pad_id: int, multiple: int
    ) -> dict[str, Any]:
        """Padded, masked ``input_ids``, ``attention_mask`` and ``labels`` (``-100`` where not masked).

        With ``targets`` (training) the masks come from torch's global generator; without
        (evaluation) each row is masked by a generator seeded with its token ids.
        """
        import torch

        rows = tokens.rows(idx)
        batch = pad_batch(rows, pad_id, multiple)
        ids = batch["input_ids"]
        if targets is not None:
            batch["input_ids"], batch["labels"] = self.mask(ids, batch["attention_mask"])
            return batch
        masked, labels = [], []
        for r, row in enumerate(rows):
            gen = torch.Generator().manual_seed(zlib.crc32(np.ascontiguousarray(row).tobytes()))
            m, lab = self.mask(ids[r : r + 1], batch["attention_mask"][r : r + 1], gen)
            self._mask_one_if_none(m, lab, ids[r : r + 1], batch["attention_mask"][r : r + 1], gen)
            masked.append(m)
            labels.append(lab)
        batch["input_ids"], batch["labels"] = torch.cat(masked), torch.cat(labels)
        return batch

    def mask(self, input_ids: Any, attention_mask: Any, generator: Any = None) -> tuple[Any, Any]:
        """(masked inputs, labels) of a padded batch, by transformers' collator; ``(B, T)`` each."""
        import torch

        collator = self._masking_collator()
        special = torch.from_numpy(self._special[input_ids.numpy()]) | (attention_mask == 0)
        offsets = None
        if self.whole_word_mask:
            new_word = ~self._continues[input_ids.numpy()]  # (B, T)
            ends = 2 * np.arange(1, input_ids.shape[1] + 1)[None, :].repeat(len(new_word), 0)
            offsets = np.stack([ends - 2 + new_word, ends], axis=-1)  # a gap before each new word
        collator.generator = generator
        return collator.torch_mask_tokens(input_ids.clone(), special.long(), offsets)

    def _mask_one_if_none(
        self, masked: Any, labels: Any, ids: Any, attention_mask: Any, generator: Any
    ) -> None:
        """Mask one token (chosen by ``generator``) of a dev row the draw left unmasked, in place.

        A short row often draws no mask at 15% (6 tokens: 38% of the time), and a dev set of one or
        two such rows would have nothing to measure: a loss of 0 that means nothing. ``(1, T)`` each.
        """
        import torch

        if (labels != IGNORE).any():
            return
        candidates = (~torch.from_numpy(self._special[ids.numpy()]) & (attention_mask == 1)).nonzero()
        if len(candidates) == 0:
            return
        r, t = candidates[torch.randint(len(candidates), (1,), generator=generator)].squeeze(0).tolist()
        labels[r, t] = ids[r, t]
        masked[r, t] = self.tokenizer.mask_token_id

    def _masking_collator(self) -> Any:
        if self._collator is None:
            if self.tokenizer is None:
                raise RuntimeError("MaskedLMTask.encode must see the tokenizer before a batch is masked")
            from transformers import DataCollatorForLanguageModeling

            with warnings.catch_warnings():  # whole-word masking: "no random replacement" is said in docs
                warnings.simplefilter("ignore")
                self._collator = DataCollatorForLanguageModeling(
                    self.tokenizer, mlm_probability=self.mlm_probability, whole_word_mask=self.whole_word_mask
                )
        return self._collator

    # -- model ---------------------------------------------------------------------------------
    def build_model(self, config: Any, train_texts: Sequence[str]) -> tuple[Any, Any]:
        """A preset BERT with a masked-LM head from scratch (vocabulary learned first), or a hub
        model / folder continued with ``AutoModelForMaskedLM``."""

        return build_model(config, list(train_texts))

    def loss(self, logits: Any, labels: Any) -> Any:
        """Mean cross-entropy over the masked tokens; ``(B, T, V), (B, T) -> ()`` (0 if none)."""
        import torch.nn.functional as F

        total = F.cross_entropy(
            logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE, reduction="sum"
        )
        return total / (labels != IGNORE).sum().clamp(min=1)  # no host sync: a batch may mask nothing

    # -- evaluation and prediction ------------------------------------------------------------
    def outputs(self, logits: Any) -> Any:
        """Token probabilities ``(B, T, V)`` on the CPU."""
        return logits.float().softmax(-1).cpu()

    def eval_outputs(self, logits: Any, labels: Any = None) -> Any:
        """Per row: summed cross-entropy, masked tokens and correct guesses, ``(B, 3)``."""
        import torch
        import torch.nn.functional as F

        if labels is None:
            return self.outputs(logits)
        logits = logits.float()
        nll = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")  # (B, T)
        valid = labels != IGNORE
        correct = (logits.argmax(-1) == labels) & valid
        return torch.stack([nll.sum(1), valid.sum(1).float(), correct.sum(1).float()], dim=1).cpu()

    def metrics(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
        """``loss`` (per masked token), ``perplexity`` and ``masked_accuracy`` of a split."""
        sums = np.asarray(outputs, dtype=np.float64).reshape(-1, 3).sum(axis=0)
        count = max(sums[1], 1.0)
        loss = float(sums[0] / count)
        return {
            "loss": loss,
            "perplexity": float(math.exp(min(loss, 50.0))),
            "masked_accuracy": float(sums[2] / count),
            "masked_tokens": int(sums[1]),
        }

    def decode(self, text: str, output: Sequence[float]) -> Any:
        """The most probable tokens for one mask, given its probabilities over the vocabulary."""

        return fill_result(text, [np.asarray(output)], self.tokenizer)
