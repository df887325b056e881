"""The task interface: everything that differs between objectives, behind one small class."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tui_lab.core.data.batching import TokenArrays, encode, encoder
from tui_lab.core.data.splits import label_counts, load_data
from tui_lab.core.data.streaming import StreamedTokens
from tui_lab.core.data.token_cache import TokenCache, content_key, tokenizer_key
from tui_lab.core.errors import ModelError
from tui_lab.core.models import adapters, loading
from tui_lab.core.tasks.metrics import softmax


class Task(ABC):
    """One training objective (single-label classification, multi-label, NER, masked LM...).

    A task turns a split's labels into training targets, a batch of rows into model inputs, model
    outputs into a loss, evaluation outputs into metrics, and one output into a prediction. It is
    stateless beyond its label names, so every rank and every resume builds the same one.

    Attributes:
        name: the value of the ``task`` setting.
        default_metric: the dev metric that picks ``best/`` unless the config says otherwise.
        metric_names: the scalar metrics :meth:`metrics` reports (for validation and charts).
        lower_is_better: metrics that improve downwards (``loss``, ``perplexity``).
        multilabel: whether a row's label is a list of labels (the data layer reads lists).
        problem_type: the ``problem_type`` saved in ``config.json`` (how a saved model is decoded).
        head: the model head a saved model of this task has (``sequence``, ``token``).
    """

    name: ClassVar[str]
    default_metric: ClassVar[str]
    metric_names: ClassVar[tuple[str, ...]]
    lower_is_better: ClassVar[frozenset[str]] = frozenset({"loss"})
    multilabel: ClassVar[bool] = False
    problem_type: ClassVar[str] = "single_label_classification"
    head: ClassVar[str] = "sequence"  # the model's head (heads.HEADS): sequence or token
    temperature_refusal: ClassVar[str] = ""  # why analyze --calibrate cannot fit a temperature ("": it can)
    label_issues_refusal: ClassVar[str] = ""  # why analysis finds no label issues for this task ("": it does)

    def __init__(self, label_names: list[str]) -> None:
        self.label_names = list(label_names)

    @property
    def label2id(self) -> dict[str, int]:
        """Label name -> index (the order the head's outputs have)."""
        return {name: i for i, name in enumerate(self.label_names)}

    @classmethod
    def from_config(cls, config: Any, label_names: list[str]) -> Task:
        """The task of a new or resumed run (tasks with settings of their own read them here)."""
        return cls(label_names)

    # -- data ----------------------------------------------------------------------------------
    @classmethod
    def detect(cls, cfg: Any) -> str:
        """Why the data (``cfg``: the data settings) unambiguously asks for this task; ``""`` if not."""
        return ""

    @classmethod
    def load_data(cls, cfg: Any, seed: int) -> Any:
        """The run's :class:`~tui_lab.core.data.splits.DataBundle` (train/dev/test splits and label names).

        Tasks whose rows are not (text, label) pairs (token tags, unlabelled text) override it.
        """

        return load_data(cfg, seed, cls.multilabel)

    def encode(
        self, tokenizer: Any, texts: Sequence[Any], labels: Sequence[Any], max_length: int
    ) -> tuple[TokenArrays, np.ndarray]:
        """A split's token ids and targets, row for row (tasks that align labels to tokens override it)."""

        return encode(tokenizer, texts, max_length), self.targets(labels)

    def encode_cached(
        self,
        tokenizer: Any,
        texts: Sequence[Any],
        labels: Sequence[Any],
        max_length: int,
        cache: TokenCache | None,
        tokenizer_digest: str = "",
        stream: tuple[int, int, bool] | None = None,
    ) -> tuple[TokenArrays | StreamedTokens, Any]:
        """:meth:`encode`, read back from ``cache`` when the same split was encoded before.

        The entry's key hashes the texts, the labels, the tokenizer (``tokenizer_digest``, from
        :func:`~tui_lab.core.data.token_cache.tokenizer_key`, computed once a run), ``max_length``
        and :meth:`encoding_key`; a hit returns read-only memory maps. ``cache=None``: no cache.
        ``stream``: epoch 0's ``(batch_size, seed, group_by_length)`` when a miss may tokenise on a
        thread while the first batches train (:mod:`~tui_lab.core.data.streaming`; the entry is
        stored once it is whole). Tasks that align targets to tokens (their own :meth:`encode`)
        never stream.
        """
        streams = stream is not None and type(self).encode is Task.encode
        if cache is None and not streams:
            return self.encode(tokenizer, texts, labels, max_length)
        self.bind_encoding(tokenizer, max_length)
        key = ""
        if cache is not None:
            digest = tokenizer_digest or tokenizer_key(tokenizer)
            key = content_key(texts, labels, digest, max_length, self.encoding_key())
            hit = self._cache_hit(cache, key, len(texts))
            if hit is not None:
                return hit
        if streams:
            assert stream is not None
            targets = self.targets(labels)

            def store(tokens: TokenArrays) -> None:
                if cache is not None:
                    cache.put(key, self._cache_entry(tokens, targets))

            return StreamedTokens(list(texts), encoder(tokenizer, max_length), stream, store), targets
        assert cache is not None
        tokens, targets = self.encode(tokenizer, texts, labels, max_length)
        cache.put(key, self._cache_entry(tokens, targets))
        return tokens, targets

    def _cache_entry(self, tokens: TokenArrays, targets: Any) -> dict[str, np.ndarray]:
        return {"values": tokens.values, "offsets": tokens.offsets, **self.targets_to_arrays(targets)}

    def _cache_hit(self, cache: TokenCache, key: str, rows: int) -> tuple[TokenArrays, Any] | None:
        """The entry under ``key`` if it is whole and of ``rows`` rows (else ``None``: encode)."""
        arrays = cache.get(key)
        if arrays is None:
            return None
        offsets, values = arrays.get("offsets"), arrays.get("values")
        if (
            offsets is None
            or values is None
            or len(offsets) != rows + 1
            or int(offsets[0]) != 0
            or int(offsets[-1]) != len(values)
            or len(arrays.get("targets", range(rows))) != rows
        ):
            return None
        try:
            return TokenArrays(values, offsets), self.targets_from_arrays(arrays)
        except (KeyError, ValueError, TypeError):  # a stored entry of another layout: encode afresh
            return None

    def encoding_key(self) -> tuple[Any, ...]:
        """What :meth:`encode` reads besides the texts, labels, tokenizer and ``max_length``
        (part of the token cache's key; tasks with settings of their own add them)."""
        return (type(self).__name__, self.name, tuple(self.label_names))

    def bind_encoding(self, tokenizer: Any, max_length: int) -> None:
        """Set up what :meth:`encode` would leave on the task (a cache hit skips ``encode``)."""
        return None

    def targets_to_arrays(self, targets: Any) -> dict[str, np.ndarray]:
        """A split's targets as named arrays (how the token cache stores them)."""
        return {"targets": np.asarray(targets)}

    def targets_from_arrays(self, arrays: dict[str, np.ndarray]) -> Any:
        """The targets :meth:`targets_to_arrays` stored."""
        return arrays["targets"]

    def plain_texts(self, texts: Sequence[Any]) -> list[str]:
        """A split's rows as plain strings (what a preset tokenizer learns its vocabulary from)."""
        return list(texts)

    def label_counts(self, split: Any) -> dict[str, int]:
        """What the Dataset pane counts in a split: examples per label (tasks may count otherwise)."""

        return label_counts(split, self.label_names)

    def describe_lengths(self, tokenizer: Any, texts: Sequence[Any]) -> tuple[list[int], list[str]]:
        """Tokens per row with special tokens, untruncated, and lines of detail for the Dataset pane."""
        encoded = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)[
            "input_ids"
        ]
        return [len(ids) for ids in encoded], []

    @abstractmethod
    def targets(self, labels: Sequence[Any]) -> np.ndarray:
        """A split's labels as one array the collate function indexes by row."""

    @abstractmethod
    def collate(
        self, tokens: TokenArrays, idx: Sequence[int], targets: np.ndarray | None, pad_id: int, multiple: int
    ) -> dict[str, Any]:
        """The tensors of one batch (``input_ids``, ``attention_mask`` and, with targets, ``labels``)."""

    # -- model ---------------------------------------------------------------------------------
    def build_model(self, config: Any, train_texts: Sequence[str]) -> tuple[Any, Any]:
        """(tokenizer, model) for a new run: a preset from scratch or a pretrained model, with a
        sequence-classification head of one output per label and this task's ``problem_type``.
        Tasks with another head (token classification, masked LM) override it."""

        return loading.build(
            config.model.name,
            list(train_texts),
            self.label_names,
            config.data.max_length,
            config.model.vocab_size,
            config.model.trust_remote_code,
            problem_type=self.problem_type,
            overrides=loading.config_overrides(config),
            quantization=adapters.quantization_for(config),
        )

    @abstractmethod
    def loss(self, logits: Any, labels: Any) -> Any:
        """The scalar training loss of a batch, computed in fp32."""

    # -- evaluation and prediction ------------------------------------------------------------
    @abstractmethod
    def outputs(self, logits: Any) -> Any:
        """What evaluation keeps of a batch's logits (e.g. class probabilities), on the CPU."""

    def eval_outputs(self, logits: Any, labels: Any = None) -> Any:
        """What evaluation keeps of a batch: :meth:`outputs`, unless the batch came with labels.

        A task whose collate makes the labels from the inputs even without targets (masked LM:
        the masked tokens) gets them here and keeps a fixed-width summary per row instead.
        """
        return self.outputs(logits)

    @abstractmethod
    def metrics(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
        """Every metric of an evaluation (scalars plus task-specific tables), ``loss`` included."""

    @abstractmethod
    def decode(self, text: str, output: Sequence[float]) -> Any:
        """One prediction for the console and the CLI."""

    def predict(self, predictor: Any, texts: list[str], batch_size: int = 64) -> list[Any]:
        """Predictions of a loaded model (:class:`~tui_lab.core.deploy.predictor.Predictor`) for texts.

        One score row per text, decoded; tasks whose answer is not one row a text (entity
        spans) override it.
        """
        logits = predictor.logits(texts, batch_size) / getattr(predictor, "temperature", 1.0)
        probs = predictor.scores(logits).tolist()
        return [self.decode(text, row) for text, row in zip(texts, probs)]

    @classmethod
    def from_model_config(cls, model_config: Any, label_names: list[str]) -> Task:
        """The task of a saved model (with whatever decoding settings its ``config.json`` holds)."""
        return cls(label_names)

    def error_report(
        self, texts: Sequence[str], rows: Sequence[int], targets: np.ndarray, outputs: np.ndarray
    ) -> Any:
        """Per-class scores, a grid of cells and the examples behind each cell
        (:class:`~tui_lab.core.tasks.reports.ErrorReport`), for the error analysis.

        Raises:
            ModelError: this task has no error analysis.
        """

        raise ModelError(f"the {self.name} task has no error analysis yet.")

    def analyse_split(
        self, predictor: Any, split: Any, temperature: float, logits: np.ndarray | None = None
    ) -> tuple[Any, np.ndarray, np.ndarray]:
        """A split's error report and each prediction's (confidence, correct), for the error analysis.

        The default predicts one score row per text (``logits`` when already computed), scores
        them at ``temperature`` and builds the report with :meth:`error_report`; tasks whose
        predictions are not one row per text (NER) override it.

        Returns:
            (:class:`~tui_lab.core.tasks.reports.ErrorReport`, confidence array, correct array)
        """
        if logits is None:
            logits = predictor.logits(split.texts)
        probs = self.scores(logits, temperature)
        targets = self.targets(split.labels)
        conf, ok = self.confidence(targets, probs)
        return self.error_report(split.texts, split.rows, targets, probs), conf, ok

    def scores(self, logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Each row's class probabilities from its logits, at a softmax ``temperature``."""
        return softmax(logits, temperature)

    def confidence(self, targets: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(confidence, correct) of each call the model made: here the top class of every row."""
        if not len(targets):
            return np.zeros(0), np.zeros(0, dtype=bool)
        return probs.max(axis=1), probs.argmax(axis=1) == targets

    def calibrate(self, dev_metrics: dict[str, Any]) -> dict[str, Any]:
        """Settle decoding choices on the best weights' dev metrics, after training.

        Test metrics and predictions use them from then on. Returns the keys to add to the saved
        ``best/config.json`` (empty: nothing to save).
        """
        return {}

    def is_improvement(self, value: float, best: float | None, metric: str) -> bool:
        """Whether ``value`` beats ``best`` for ``metric``."""
        if best is None:
            return True
        return value < best if metric in self.lower_is_better else value > best
