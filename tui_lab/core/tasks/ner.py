"""Named-entity recognition: a tag for every word, learned on sub-tokens, scored on entities.

Words are tokenised as pre-split words and their tags aligned to sub-tokens the Hugging Face way:
the first sub-token of a word carries its tag, the others ``-100`` (ignored by the loss), or with
``data.label_all_subtokens`` the same tag (``B-`` becoming ``I-``). Metrics are seqeval's strict
IOB2 entity precision, recall and F1 over the first sub-token of every word, per entity type too.
A saved model is a ``*ForTokenClassification`` that ``transformers.pipeline("token-classification")``
loads; predictions are entity spans with character offsets, grouped like the pipeline's
``aggregation_strategy="simple"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tui_lab.core.data.batching import TokenArrays, concat, from_lists, pad_batch
from tui_lab.core.data.tagged import detect, entity_types, load_token_data
from tui_lab.core.models import adapters, loading
from tui_lab.core.tasks.base import Task
from tui_lab.core.tasks.entities import entity_metrics, predict_entities, require_fast_tokenizer
from tui_lab.core.tasks.ner_report import ner_report, word_probs

IGNORE = -100  # the label the loss skips (special tokens, later sub-tokens of a word)
ENCODE_CHUNK = 5_000  # sentences per tokenizer call
WIDTH_MULTIPLE = 8  # evaluation outputs are padded to max_length rounded up to this (CUDA pads to 8)


@dataclass(frozen=True)
class TokenTargets:
    """Per-sub-token label ids of a split (``IGNORE`` where nothing is learned) and word starts.

    ``labels`` has the token ids' layout (row ``i`` is ``labels.row(i)``); ``word_start`` is a
    flat bool array beside ``labels.values``: True at the first sub-token of each word, where the
    entity metrics read the word's tag.
    """

    labels: TokenArrays
    word_start: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class NerTask(Task):
    """Token classification with IOB2 tags (people, places, organisations...)."""

    name = "ner"
    default_metric = "f1"
    metric_names = ("f1", "precision", "recall", "accuracy", "loss")
    problem_type = "token_classification"  # recorded for information; decoding goes by architecture
    head: ClassVar[str] = "token"
    temperature_refusal = (
        "temperature scaling is for sentence classifiers; a NER run's calibration is read per word, "
        "without a temperature."
    )
    label_issues_refusal = "the label-issue search reads one label per text, not a tag per word."

    def __init__(self, label_names: list[str], label_all_subtokens: bool = False) -> None:
        super().__init__(label_names)
        self.label_all_subtokens = label_all_subtokens
        self.width = 0  # evaluation output width; set by encode

    @classmethod
    def from_config(cls, config: Any, label_names: list[str]) -> NerTask:
        """The task with the run's ``data.label_all_subtokens``."""
        return cls(label_names, bool(getattr(config.data, "label_all_subtokens", False)))

    @classmethod
    def detect(cls, cfg: Any) -> str:
        """Why the data is token-tagged (a CoNLL file, tokens and tags columns), or ``""``."""

        return detect(cfg)

    @classmethod
    def load_data(cls, cfg: Any, seed: int) -> Any:
        """Sentences as word lists and tag-id lists (CoNLL or tokens/tags files)."""

        return load_token_data(cfg, seed)

    # -- data ----------------------------------------------------------------------------------
    def encode(
        self, tokenizer: Any, texts: Sequence[Any], labels: Sequence[Any], max_length: int
    ) -> tuple[TokenArrays, Any]:
        """Sub-token ids of every sentence and its tags aligned to them (:class:`TokenTargets`)."""
        self.bind_encoding(tokenizer, max_length)
        parts: list[tuple[TokenArrays, TokenArrays, np.ndarray]] = []
        for i in range(0, len(texts), ENCODE_CHUNK):
            parts.append(
                self._encode_chunk(
                    tokenizer, texts[i : i + ENCODE_CHUNK], labels[i : i + ENCODE_CHUNK], max_length
                )
            )
        if not parts:
            empty = concat([])
            return empty, TokenTargets(empty, np.zeros(0, dtype=bool))
        tokens = concat([p[0] for p in parts])
        targets = TokenTargets(concat([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))
        return tokens, targets

    def bind_encoding(self, tokenizer: Any, max_length: int) -> None:
        """A fast tokenizer is required; evaluation outputs are ``max_length`` wide, rounded up."""
        require_fast_tokenizer(tokenizer)
        self.width = -(-max_length // WIDTH_MULTIPLE) * WIDTH_MULTIPLE

    def encoding_key(self) -> tuple[Any, ...]:
        """The label names and ``data.label_all_subtokens`` (how tags are aligned to sub-tokens)."""
        return (*super().encoding_key(), self.label_all_subtokens)

    def targets_to_arrays(self, targets: Any) -> dict[str, np.ndarray]:
        """The aligned tag ids (values and offsets) and the word starts."""
        return {
            "tag_values": targets.labels.values,
            "tag_offsets": targets.labels.offsets,
            "word_start": targets.word_start,
        }

    def targets_from_arrays(self, arrays: dict[str, np.ndarray]) -> TokenTargets:
        """The :class:`TokenTargets` :meth:`targets_to_arrays` stored."""
        return TokenTargets(TokenArrays(arrays["tag_values"], arrays["tag_offsets"]), arrays["word_start"])

    def _encode_chunk(
        self, tokenizer: Any, words: Sequence[Any], tags: Sequence[Any], max_length: int
    ) -> tuple[TokenArrays, TokenArrays, np.ndarray]:
        enc = tokenizer(
            [list(w) for w in words],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        label_rows, starts = [], []
        for row, row_tags in enumerate(tags):
            aligned, first = align_labels(
                enc.word_ids(row), list(row_tags), self.label_all_subtokens, self._to_inside
            )
            label_rows.append(aligned)
            starts.extend(first)
        return from_lists(enc["input_ids"]), from_lists(label_rows), np.asarray(starts, dtype=bool)

    @property
    def _to_inside(self) -> list[int]:
        """Label id -> the id of its ``I-`` form (``B-PER`` -> ``I-PER``; others unchanged)."""
        ids = self.label2id
        return [ids.get("I-" + n[2:], i) if n.startswith("B-") else i for i, n in enumerate(self.label_names)]

    def plain_texts(self, texts: Sequence[Any]) -> list[str]:
        """Each sentence's words joined with spaces (the preset tokenizer learns from these)."""
        return [" ".join(words) for words in texts]

    def label_counts(self, split: Any) -> dict[str, int]:
        """Entities per type (a ``B-`` tag starts one), types in alphabetical order."""
        from collections import Counter

        starts = Counter(
            self.label_names[t][2:] for row in split.labels for t in row if self.label_names[t][:2] == "B-"
        )
        return {kind: starts.get(kind, 0) for kind in entity_types(self.label_names)}

    def describe_lengths(self, tokenizer: Any, texts: Sequence[Any]) -> tuple[list[int], list[str]]:
        """Sub-tokens per sentence (special tokens included), and a line on words per sentence."""
        encoded = tokenizer(
            [list(w) for w in texts], is_split_into_words=True, truncation=False, verbose=False
        )["input_ids"]
        words = np.asarray([len(w) for w in texts] or [0])
        line = f"words a sentence: p50 {int(np.percentile(words, 50))} · max {int(words.max())}"
        return [len(ids) for ids in encoded], [line]

    def targets(self, labels: Sequence[Any]) -> np.ndarray:
        """Not used: NER targets depend on the tokenizer and come from :meth:`encode`."""
        raise NotImplementedError("NER targets come from NerTask.encode")

    def collate(
        self, tokens: TokenArrays, idx: Sequence[int], targets: Any, pad_id: int, multiple: int
    ) -> dict[str, Any]:
        """Padded ids and mask, plus per-token ``labels`` padded with ``-100``."""
        import torch

        batch = pad_batch(tokens.rows(idx), pad_id, multiple)
        if targets is not None:
            width = batch["input_ids"].shape[1]
            labels = np.full((len(idx), width), IGNORE, dtype=np.int64)  # (B, T)
            for r, row in enumerate(targets.labels.rows(idx)):
                labels[r, : len(row)] = row
            batch["labels"] = torch.from_numpy(labels)
        return batch

    # -- model ---------------------------------------------------------------------------------
    def build_model(self, config: Any, train_texts: Sequence[Any]) -> tuple[Any, Any]:
        """A preset ``BertForTokenClassification`` or ``AutoModelForTokenClassification``."""

        return loading.build(
            config.model.name,
            self.plain_texts(train_texts),
            self.label_names,
            config.data.max_length,
            config.model.vocab_size,
            config.model.trust_remote_code,
            head=self.head,
            overrides=loading.config_overrides(config),
            quantization=adapters.quantization_for(config),
        )

    def loss(self, logits: Any, labels: Any) -> Any:
        """Mean cross-entropy over the labelled sub-tokens; ``(B, T, C), (B, T) -> ()``."""
        import torch.nn.functional as F

        return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE)

    # -- evaluation and prediction ------------------------------------------------------------
    def outputs(self, logits: Any) -> Any:
        """Tag probabilities ``(B, width, C)``, zero-padded to one width so batches concatenate."""
        import torch

        probs = torch.softmax(logits.float(), dim=-1).cpu()
        width = max(self.width, probs.shape[1])
        return torch.nn.functional.pad(probs[:, :width], (0, 0, 0, width - probs.shape[1]))

    def metrics(self, targets: Any, outputs: np.ndarray) -> dict[str, Any]:
        """Entity precision/recall/F1 (seqeval, strict IOB2), per type; token accuracy; loss."""

        return entity_metrics(targets, np.asarray(outputs), self.label_names)

    def decode(self, text: str, output: Sequence[float]) -> Any:
        """Not used: :meth:`predict` groups tokens into entities (it needs the offsets)."""
        raise NotImplementedError("NER predictions come from NerTask.predict")

    def predict(self, predictor: Any, texts: list[str], batch_size: int = 64) -> list[Any]:
        """Entity spans of each text, as ``pipeline(..., aggregation_strategy="simple")`` finds them."""

        return predict_entities(predictor, self.label_names, texts, batch_size)

    def analyse_split(
        self, predictor: Any, split: Any, temperature: float, logits: np.ndarray | None = None
    ) -> tuple[Any, np.ndarray, np.ndarray]:
        """Entity types x missed/spurious/correct, with sentences, and every word's calibration
        (:func:`~tui_lab.core.tasks.ner_report.ner_report`); ``logits`` is not used."""

        probs = word_probs(predictor, split.texts, temperature)
        return ner_report(split.texts, split.rows, split.labels, probs, self.label_names)


def align_labels(
    word_ids: Sequence[int | None], tags: list[int], label_all: bool, to_inside: list[int]
) -> tuple[list[int], list[bool]]:
    """One sentence's tags aligned to its sub-tokens, and where each word starts.

    Args:
        word_ids: the word of each sub-token (``None`` for special tokens), as a fast
            tokenizer's ``word_ids()`` gives them.
        tags: the tag id of each word.
        label_all: later sub-tokens of a word carry its tag (its ``I-`` form) instead of ``-100``.
        to_inside: tag id -> the id of its ``I-`` form.

    Returns:
        (label per sub-token, whether each sub-token is the first of its word)
    """
    labels: list[int] = []
    first: list[bool] = []
    previous = None
    for word in word_ids:
        starts = word is not None and word != previous
        if word is None:
            labels.append(IGNORE)
        elif starts:
            labels.append(tags[word])
        else:
            labels.append(to_inside[tags[word]] if label_all else IGNORE)
        first.append(starts)
        previous = word
    return labels, first
