"""Evaluating a saved model on a labelled file (``tui-lab eval``): single-label, multi-label or NER."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig
from tui_lab.core.data import corrections
from tui_lab.core.data.batching import pad_batch
from tui_lab.core.data.checks import (
    clean_rows_indexed,
    encode_labels,
    infer_columns,
    split_label_lists,
)
from tui_lab.core.data.files import find_split_files, read_table
from tui_lab.core.data.splits import label_map, load_data
from tui_lab.core.data.tagged import TOKEN_SUFFIXES, read_sentences, to_iob2
from tui_lab.core.data.token_cache import TokenCache
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.errors import DataError, LabError, ModelError
from tui_lab.core.tasks.entities import entity_metrics
from tui_lab.core.tasks.metrics import classification_metrics, multilabel_metrics
from tui_lab.core.training.runs import CONFIG_FILE


def eval_source(data: str) -> str:
    """A file as given; for a folder, its test file (else dev)."""
    p = Path(data).expanduser()
    if p.is_dir():
        found = find_split_files(p)
        for split in ("test", "dev"):
            if split in found:
                return found[split]
        raise DataError(f"{p} is a folder without a test or dev file; give the file itself.")
    return data


def refuse_token_file(source: str, model: str) -> None:
    """Refuse NER data (a CoNLL or tokens/tags file) for a text classifier, in one sentence.

    Raises:
        DataError: ``source`` has a token-tag suffix.
    """
    if Path(source).suffix.lower() in TOKEN_SUFFIXES:
        raise DataError(
            f"{source} is NER data (CoNLL token tags), but {model} is a text classifier; give a .csv, "
            ".jsonl or .parquet file with text and label columns, or use a NER run with this file."
        )


def evaluate_path(
    model: str,
    data: str,
    text_column: str = "",
    label_column: str = "",
    drop_empty: bool = False,
    device: str = "auto",
) -> dict[str, Any]:
    """A model's metrics on a labelled file, by its task: accuracy, macro precision/recall/F1 and
    the confusion matrix (single-label); micro/macro F1 and per-label F1 (multi-label); entity
    precision/recall/F1 per type (NER, on a CoNLL or tokens/tags file).

    ``headline`` in the result names the metrics to show first.

    Raises:
        LabError: the model or the data cannot be used (e.g. labels the model does not know).
    """

    source = eval_source(data)
    predictor = Predictor.from_path(model, device)
    if predictor.task.head == "token":
        return _evaluate_tokens(predictor, source)
    refuse_token_file(source, predictor.source)
    table = read_table(source)
    text_col, label_col = infer_columns(table, text_column, label_column)
    texts, raw, kept = clean_rows_indexed(table, text_col, label_col, drop_empty, predictor.task.multilabel)
    label2id = label_map(predictor.labels)
    if predictor.task.multilabel:
        y_lists = _label_lists(raw, label2id, table.source, predictor)
        texts, y_lists, said = _corrected(source, texts, y_lists, kept, predictor.labels)
        return _evaluate_multilabel(predictor, table.source, texts, y_lists, said)
    y_true = _known(
        lambda: encode_labels(raw, label2id, table.source, table.class_names), table.source, predictor
    )
    texts, y_true, said = _corrected(source, texts, y_true, kept, predictor.labels)
    preds = predictor.predict(texts)
    y_pred = [label2id[p.label] for p in preds]
    m = classification_metrics(y_true, y_pred, predictor.labels)
    keys = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "f1_weighted", "confusion_matrix", "n")
    return {
        "model": predictor.source,
        "data": table.source,
        "labels": predictor.labels,
        "headline": ["accuracy", "f1_macro", "precision_macro", "recall_macro"],
        **{k: m[k] for k in keys},
        **({"corrections": said} if said else {}),
    }


def _corrected(
    source: str, texts: list[str], labels: list[Any], rows: list[int], label_names: list[str]
) -> tuple[list[str], list[Any], str]:
    """The file's own decisions on its rows applied, if it has a corrections file; what was done."""
    fixes = corrections.resolve_path("", source)
    if fixes is None:
        return texts, labels, ""
    texts, labels, _, summary = corrections.apply(texts, labels, rows, corrections.read(fixes), label_names)
    return texts, labels, summary.describe()


def _label_lists(raw: list[Any], label2id: dict[str, int], source: str, predictor: Any) -> list[list[int]]:
    """Each row's label ids (multi-label), labels the model does not know said in one sentence."""
    rows = split_label_lists(raw)
    flat = _known(lambda: encode_labels([v for r in rows for v in r], label2id, source), source, predictor)
    it = iter(flat)
    return [[next(it) for _ in row] for row in rows]


def _known(encode: Any, source: str, predictor: Any) -> Any:
    """``encode()``, with labels the model does not know said in one sentence."""
    try:
        return encode()
    except DataError:
        raise DataError(
            f"{source} has labels the model does not know (the model has: {', '.join(predictor.labels)})."
        ) from None


def _evaluate_multilabel(
    predictor: Any, source: str, texts: list[str], y_lists: list[list[int]], said: str = ""
) -> dict[str, Any]:
    """Micro/macro F1, subset accuracy and per-label F1 at the model's saved threshold."""
    import numpy as np

    label2id = label_map(predictor.labels)
    y_true = np.zeros((len(y_lists), len(label2id)), dtype=np.int64)
    y_pred = np.zeros_like(y_true)
    for i, ids in enumerate(y_lists):
        y_true[i, ids] = 1
    for i, p in enumerate(predictor.predict(texts)):
        y_pred[i, [label2id[name] for name in p.labels]] = 1
    m = multilabel_metrics(y_true, y_pred, predictor.labels)
    m.pop("per_class", None)
    headline = ["f1_micro", "f1_macro", "subset_accuracy", "precision_micro", "recall_micro"]
    out = {"model": predictor.source, "data": source, "labels": predictor.labels, "headline": headline, **m}
    return {**out, **({"corrections": said} if said else {})}


def _evaluate_tokens(predictor: Any, source: str) -> dict[str, Any]:
    """Entity precision/recall/F1 (seqeval, strict IOB2) over every word's first sub-token."""
    import numpy as np

    words, raw, starts = read_sentences(source)
    tags, _ = to_iob2(raw, source, starts, Path(source).suffix.lower() in TOKEN_SUFFIXES)
    label2id = label_map(predictor.labels)
    unknown = sorted({t for row in tags for t in row if t not in label2id})
    if unknown:
        raise DataError(
            f"{source} has tags the model does not know ({', '.join(unknown[:5])}; the model has: "
            f"{', '.join(predictor.labels)})."
        )
    task = predictor.task
    ids = [[label2id[t] for t in row] for row in tags]
    cache = token_cache_for(predictor.source)  # the same file and model again: read back, not re-encoded
    tokens, targets = task.encode_cached(predictor.tokenizer, words, ids, predictor.max_length, cache)
    probs = np.zeros((len(tokens), int(tokens.lengths.max()), len(predictor.labels)), dtype=np.float32)
    for start in range(0, len(tokens), 64):
        idx = list(range(start, min(start + 64, len(tokens))))
        batch = {
            k: v.numpy()
            for k, v in pad_batch(tokens.rows(idx), predictor.tokenizer.pad_token_id or 0).items()
        }
        logits = predictor.backend.logits(batch)
        probs[idx, : logits.shape[1]] = predictor.scores(logits, "softmax")
    m = entity_metrics(targets, probs, predictor.labels)
    return {
        "model": predictor.source,
        "data": source,
        "labels": predictor.labels,
        "headline": ["f1", "precision", "recall", "accuracy"],
        **m,
    }


def token_cache_for(model: str | Path) -> TokenCache | None:
    """The token cache as the model's run sized it (``data.token_cache_mb`` in the ``config.toml``
    of the run folder, or of the run a ``best/`` is in), else as the setting's default."""
    megabytes = LabConfig().data.token_cache_mb
    for folder in (Path(model), Path(model).parent):
        if (folder / CONFIG_FILE).is_file():
            try:
                megabytes = LabConfig.load(folder / CONFIG_FILE).data.token_cache_mb
            except LabError:  # a config this version cannot read: the default
                pass
            break
    return TokenCache.from_megabytes(megabytes)


def eval_split(path: str | Path, data: str | None, multilabel: bool = False) -> tuple[list[str], list[Any]]:
    """Texts and label names to score the variants on: ``data`` (a labelled file, or a folder's
    test/dev file), else the run's dev split rebuilt from its config.toml.

    Args:
        multilabel: the labels are lists of names (returned as they are).

    Raises:
        LabError: no data given for a bare model folder, or the data cannot be read.
    """

    if data:
        refuse_token_file(eval_source(data), str(path))
        table = read_table(eval_source(data))
        text_col, label_col = infer_columns(table)
        texts, raw, _ = clean_rows_indexed(table, text_col, label_col, True, multilabel)
        if multilabel:
            return texts, split_label_lists(raw)
        names = [table.class_names[v] if table.class_names and isinstance(v, int) else str(v) for v in raw]
        return texts, names
    config_file = Path(path).expanduser() / CONFIG_FILE
    if not config_file.is_file():
        raise ModelError(f"{path} is not a run folder; give labelled data to measure on with --data.")

    config = LabConfig.load(config_file)
    try:
        bundle = load_data(config.data, config.train.seed)
    except DataError as exc:
        raise DataError(
            f"the run's data cannot be read any more ({exc.message.rstrip('.')}); give labelled data "
            f"to measure on with --data."
        ) from None
    names = bundle.label_names
    if multilabel:
        return bundle.dev.texts, [[names[i] for i in y] for y in bundle.dev.labels]
    return bundle.dev.texts, [names[y] for y in bundle.dev.labels]
