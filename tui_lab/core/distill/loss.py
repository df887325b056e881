"""The distillation loss and the task wrapper that trains with it.

:class:`DistillTask` wraps the run's own task: evaluation, metrics and decoding are the inner
task's; only training batches change. Its ``collate`` packs each training row's teacher logits
(and whether the row has a label) beside the labels in one tensor, and its ``loss`` unpacks them:
``alpha * T^2 * soft + (1 - alpha) * task loss``, the task loss over labelled rows only.

:class:`TokenDistillTask` does the same per word for NER: the teacher's logits of each word
(``(rows, words, C)``) are placed at the student's first sub-token of that word, and the soft
part is the KL divergence averaged over the words both models saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tui_lab.core.tasks.ner import IGNORE


def distillation_loss(
    student: Any, teacher: Any, labels: Any, has_label: Any, task: Any, temperature: float, alpha: float
) -> Any:
    """``alpha * T^2 * soft + (1 - alpha) * task.loss`` of one batch, in fp32.

    Args:
        student: the student's logits ``(B, C)``.
        teacher: the teacher's logits ``(B, C)``.
        labels: the task's labels of the batch (class indices, or multi-hot rows).
        has_label: ``(B,)`` bool, False for unlabelled rows (they learn the soft labels only).
        task: the inner task; its ``loss`` is the hard part, its ``multilabel`` picks the soft part:
            KL(softmax(t/T) || softmax(s/T)) per row (single-label) or the binary cross-entropy
            of sigmoid(s/T) against sigmoid(t/T) per (row, label) (multi-label).
        temperature: T (> 0).
        alpha: weight of the soft part, in [0, 1].
    """
    soft = soft_loss(student, teacher, temperature, task.multilabel)
    hard = task.loss(student[has_label], labels[has_label]) if bool(has_label.any()) else soft * 0.0
    return alpha * temperature**2 * soft + (1.0 - alpha) * hard


def soft_loss(student: Any, teacher: Any, temperature: float, multilabel: bool = False) -> Any:
    """The soft part of ``(rows, C)`` logits at ``T``: KL(softmax(t/T) || softmax(s/T)) averaged
    over rows, or (``multilabel``) the mean binary cross-entropy of sigmoid(s/T) against sigmoid(t/T)."""
    import torch.nn.functional as F

    s, t = student.float() / temperature, teacher.float() / temperature
    if multilabel:
        return F.binary_cross_entropy_with_logits(s, t.sigmoid())
    return F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), reduction="batchmean", log_target=True)


def token_distillation_loss(
    student: Any, teacher: Any, labels: Any, task: Any, temperature: float, alpha: float
) -> Any:
    """``alpha * T^2 * soft + (1 - alpha) * task.loss`` of a NER batch, in fp32.

    Args:
        student: the student's logits ``(B, T, C)``.
        teacher: the teacher's logits ``(B, T, C)`` at the student's first sub-token of each word,
            NaN elsewhere (other sub-tokens, padding, words the teacher did not see).
        labels: ``(B, T)`` tag ids, ``-100`` where the task learns nothing.
        task: the NER task; its ``loss`` (cross-entropy over the labelled sub-tokens) is the hard part.
        temperature: T (> 0).
        alpha: weight of the soft part, in [0, 1].

    The soft part is the KL divergence of :func:`soft_loss` averaged over the positions with
    teacher logits; a batch without any (or without labels) adds nothing to that part.
    """
    seen = ~teacher[..., 0].isnan()  # (B, T)
    soft = soft_loss(student[seen], teacher[seen], temperature) if bool(seen.any()) else student.sum() * 0.0
    hard = task.loss(student, labels) if bool((labels != IGNORE).any()) else soft * 0.0
    return alpha * temperature**2 * soft + (1.0 - alpha) * hard


class DistillTask:
    """The run's task, training on its teacher's logits too (every other call goes to the task).

    Args:
        inner: the run's task.
        train_targets: the training split's targets (the array the loop's training batches index;
            a collate of any other array, e.g. dev's, is the inner task's).
        teacher: ``(rows, C)`` teacher logits, row for row with ``train_targets`` (memory-mapped).
        has_label: ``(rows,)`` bool; unlabelled rows get the soft labels only.
        temperature: T of the soft labels.
        alpha: weight of the soft labels.
    """

    def __init__(
        self,
        inner: Any,
        train_targets: np.ndarray,
        teacher: np.ndarray,
        has_label: np.ndarray,
        temperature: float,
        alpha: float,
    ) -> None:
        self.inner = inner
        self.train_targets = train_targets
        self.teacher = teacher
        self.has_label = has_label
        self.temperature = temperature
        self.alpha = alpha

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def collate(
        self, tokens: Any, idx: Sequence[int], targets: np.ndarray | None, pad_id: int, multiple: int
    ) -> dict[str, Any]:
        """The inner task's batch; a training batch's ``labels`` become ``[has label | labels | teacher]``."""
        import torch

        batch = self.inner.collate(tokens, idx, targets, pad_id, multiple)
        if targets is not self.train_targets:
            return batch
        rows = np.asarray(idx)
        labels = batch["labels"].float().reshape(len(rows), -1)  # (B, 1) class index or (B, C) multi-hot
        has = torch.from_numpy(self.has_label[rows].astype(np.float32))[:, None]
        teacher = torch.from_numpy(np.asarray(self.teacher[rows], dtype=np.float32))
        batch["labels"] = torch.cat([has, labels, teacher], dim=1)
        return batch

    def loss(self, logits: Any, labels: Any) -> Any:
        """The distillation loss of a packed training batch (see :func:`distillation_loss`)."""
        width = logits.shape[-1]
        has, hard, teacher = labels[:, 0] > 0.5, labels[:, 1:-width], labels[:, -width:]
        hard = hard if self.inner.multilabel else hard[:, 0].long()
        return distillation_loss(logits, teacher, hard, has, self.inner, self.temperature, self.alpha)


class TokenDistillTask(DistillTask):
    """:class:`DistillTask` for NER: teacher logits a word, compared at the student's word starts.

    ``teacher`` is ``(rows, words, C)`` (NaN: no logits); ``train_targets`` the training split's
    :class:`~tui_lab.core.tasks.ner.TokenTargets`, whose ``word_start`` says where each word's
    first sub-token is in the student's own tokens (word ``j`` of a row is its ``j``-th start).
    """

    def collate(
        self, tokens: Any, idx: Sequence[int], targets: Any, pad_id: int, multiple: int
    ) -> dict[str, Any]:
        """The inner task's batch; a training batch's ``labels`` become ``(B, T, 1 + C)``: tag | teacher."""
        import torch

        batch = self.inner.collate(tokens, idx, targets, pad_id, multiple)
        if targets is not self.train_targets:
            return batch
        teacher = torch.from_numpy(self.teacher_at_starts(idx, batch["labels"].shape[1]))
        batch["labels"] = torch.cat([batch["labels"].float()[..., None], teacher], dim=-1)
        return batch

    def teacher_at_starts(self, idx: Sequence[int], width: int) -> np.ndarray:
        """``(B, width, C)`` float32: row ``idx[b]``'s word ``j`` at its ``j``-th word start, NaN elsewhere."""
        labels, starts = self.train_targets.labels, self.train_targets.word_start
        out = np.full((len(idx), width, self.teacher.shape[-1]), np.nan, dtype=np.float32)
        for b, row in enumerate(idx):
            positions = np.flatnonzero(starts[labels.offsets[row] : labels.offsets[row + 1]])
            n = min(len(positions), self.teacher.shape[1])  # words past either side's truncation: none
            out[b, positions[:n]] = self.teacher[row, :n]
        return out

    def loss(self, logits: Any, labels: Any) -> Any:
        """The per-word distillation loss of a packed batch (see :func:`token_distillation_loss`)."""
        tags, teacher = labels[..., 0].long(), labels[..., 1:]
        return token_distillation_loss(logits, teacher, tags, self.inner, self.temperature, self.alpha)
