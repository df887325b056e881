"""A run's examples: train/dev/test splits with one label map, and what they look like.

:func:`load_data` reads (:mod:`~tui_lab.core.data.files`) and checks
(:mod:`~tui_lab.core.data.checks`) every split of the data settings, and cuts a stratified
dev split from train when there is no dev file. Label counts, token-length percentiles and
train/dev overlap describe a split for the Dataset pane.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tui_lab.core.cache import cache_dir
from tui_lab.core.data import bundle_cache, corrections
from tui_lab.core.data.checks import (
    clean_rows_indexed,
    encode_labels,
    infer_columns,
    label_names_from,
    multilabel_names,
    split_label_lists,
)
from tui_lab.core.data.files import read_table, resolve_sources
from tui_lab.core.data.token_cache import TokenCache, content_key
from tui_lab.core.errors import DataError, setting_ref
from tui_lab.core.settings import DataConfig

SPLIT_CACHE_KIND = "splits"  # the project cache's sub-folder of cut splits (row indices)
SPLIT_CACHE_BYTES = 256 * 2**20  # least recently used out past this; an entry is 8 bytes a row
SPLIT_CACHE_VERSION = 1  # bump if the way rows are split changes


@dataclass
class Split:
    """The texts and labels of one split, and where each came from.

    A label is a class index, or (multi-label data) a list of class indices.

    ``rows[i]`` is the 0-based data row (header not counted) of example ``i`` in its source file,
    before empty rows were dropped or a dev split was cut, so an error analysis can point at the
    user's own file. Left out, it is ``0 .. len(texts) - 1``.
    """

    texts: list[str]
    labels: list[Any]  # list[int], or list[list[int]] for multi-label data
    rows: list[int] | None = None

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = list(range(len(self.texts)))

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Any) -> Split:
        """The examples at ``indices`` (in that order), rows included."""
        rows = self.rows or []
        return Split(
            [self.texts[i] for i in indices], [self.labels[i] for i in indices], [rows[i] for i in indices]
        )


def label_map(label_names: list[str]) -> dict[str, int]:
    """Label name -> class index: the one place the mapping is spelled out."""
    return {name: i for i, name in enumerate(label_names)}


@dataclass
class DataBundle:
    """Train, dev and (optional) test splits with one shared label map."""

    train: Split
    dev: Split
    test: Split | None
    label_names: list[str]
    text_column: str
    label_column: str
    sources: dict[str, str]
    notes: list[str] = field(default_factory=list)
    multilabel: bool = False  # every row's label is a list of label indices
    dev_from_train: bool = False  # dev was cut from the training file (no dev file was given)
    corrections: dict[str, Any] | None = None  # what the train file's corrections did: file, hash, counts

    @property
    def label2id(self) -> dict[str, int]:
        """Label name -> class index."""
        return label_map(self.label_names)

    @property
    def id2label(self) -> dict[int, str]:
        """Class index -> label name."""
        return dict(enumerate(self.label_names))


# -- the bundle ----------------------------------------------------------------------------------
def load_data(cfg: DataConfig, seed: int = 42, multilabel: bool | None = None) -> DataBundle:
    """Read, check and encode train/dev/test as configured.

    Args:
        cfg: the data settings.
        seed: seed of the stratified dev split.
        multilabel: whether labels are lists of labels (JSON lists or strings split at
            ``cfg.label_delimiter``); ``None`` = lists if any train label is a JSON list.

    The result is kept in the project cache (:mod:`~tui_lab.core.data.bundle_cache`, keyed by
    the files' bytes, these settings and ``seed``), so a rerun on the same files reads it back.

    Raises:
        DataError: any problem with the files, columns or labels, or labels that are lists
            where ``multilabel`` is ``False``.
    """
    sources = resolve_sources(cfg)
    cache = bundle_cache.bundle_cache(cfg.token_cache_mb)
    settings = (cfg.text_column, cfg.label_column, cfg.drop_empty, cfg.label_delimiter, cfg.dev_fraction)
    settings += tuple(corrections.digest(p) for p in _corrections_paths(cfg, sources).values())
    key = bundle_cache.bundle_key(sources, (*settings, seed, multilabel)) if cache is not None else None
    if cache is not None and key is not None:
        stored = cache.get(key)
        if stored is not None:
            try:
                return bundle_cache.from_arrays(stored, DataBundle, Split)
            except (KeyError, ValueError, TypeError):  # an entry of another layout: read the files
                pass
    bundle = _read_bundle(cfg, seed, multilabel, sources)
    if cache is not None and key is not None:
        cache.put(key, bundle_cache.to_arrays(bundle))
    return bundle


def _read_bundle(
    cfg: DataConfig, seed: int, multilabel: bool | None, sources: dict[str, str | None]
) -> DataBundle:
    """:func:`load_data` from the files themselves."""
    train_table = read_table(sources["train"], "train")
    text_col, label_col = infer_columns(train_table, cfg.text_column, cfg.label_column)
    notes: list[str] = []
    texts, raw_labels, kept = clean_rows_indexed(
        train_table, text_col, label_col, cfg.drop_empty, allow_lists=multilabel is not False
    )
    dropped = len(train_table) - len(kept)
    train_table.columns.clear()  # the raw columns are done with (large at 1M rows)
    if dropped:
        notes.append(f"dropped {dropped} train row(s) with an empty text or label")
    lists = any(isinstance(v, list) for v in raw_labels)
    if multilabel is None:
        multilabel = lists
    if multilabel:
        raw_labels = split_label_lists(raw_labels, cfg.label_delimiter)
        names = multilabel_names(raw_labels, train_table.source, cfg.label_delimiter)
    else:
        names = label_names_from(raw_labels, train_table.class_names)
    if len(names) < 2:
        raise DataError(
            f"{train_table.source} has a single label ({names[0]!r}); a classifier needs at least two."
        )
    label2id = label_map(names)
    train = Split(
        texts, _encode(raw_labels, label2id, train_table.source, train_table.class_names, cfg), kept
    )
    fixes = _corrections_paths(cfg, sources)
    train, summary = _apply_corrections(train, fixes.get("train"), names, notes)

    dev_source = sources["dev"] or (sources["train"] if sources["train"].startswith("hf:") else None)
    used = {"train": train_table.source}
    rest = (cfg, text_col, label_col, label2id, multilabel, used, notes)
    dev = _load_split(dev_source, "dev", *rest) if dev_source else None
    if dev is not None and sources["dev"]:
        dev, _ = _apply_corrections(dev, fixes.get("dev"), names, notes)
    cut = dev is None  # no dev file (or a hub dataset without one): cut from train
    if cut:
        train, dev = stratified_split(train, cfg.dev_fraction, seed)
        used["dev"] = f"{cfg.dev_fraction:.0%} stratified split of train"
    test = _load_split(sources["test"], "test", *rest) if sources["test"] else None
    if test is not None:
        test, _ = _apply_corrections(test, fixes.get("test"), names, notes)
    return DataBundle(train, dev, test, names, text_col, label_col, used, notes, multilabel, cut, summary)


def _corrections_paths(cfg: DataConfig, sources: dict[str, str | None]) -> dict[str, Any]:
    """The corrections file of each split's file: ``data.corrections`` for train, the default
    file beside a dev or test file (none where there is none, or with ``data.corrections = none``)."""
    found = {"train": corrections.resolve_path(cfg.corrections, sources["train"])}
    off = cfg.corrections.strip().lower() == corrections.NONE
    for split in ("dev", "test"):
        found[split] = None if off else corrections.resolve_path("", sources.get(split))
    return found


def _apply_corrections(
    split: Split, path: Any, names: list[str], notes: list[str]
) -> tuple[Split, dict[str, Any] | None]:
    """``split`` with the decisions of the corrections file at ``path`` applied (one note says
    what was done); the summary the run's config records (``None``: no file)."""
    if path is None:
        return split, None
    found = corrections.read(path)
    texts, labels, rows, summary = corrections.apply(
        split.texts, split.labels, split.rows or [], found, names
    )
    notes.append(summary.describe())
    if summary.torn:
        notes.append(summary.torn)
    return Split(texts, labels, rows), {**summary.to_dict(), "relabelled_rows": summary.relabelled_rows}


def _load_split(
    source: str,
    split: str,
    cfg: DataConfig,
    text_col: str,
    label_col: str,
    label2id: dict[str, int],
    multilabel: bool,
    used: dict[str, str],
    notes: list[str],
) -> Split | None:
    """A dev or test file read like the train file; its source goes into ``used``, a note into
    ``notes`` if rows were dropped. ``None``: a hub dataset without that split."""
    try:
        table = read_table(source, split)
    except DataError as exc:
        if source.startswith("hf:") and "has no" in str(exc):
            return None
        raise
    for col, path in ((text_col, "data.text_column"), (label_col, "data.label_column")):
        if col not in table.columns:
            raise DataError(
                f"{table.source} has no column '{col}' like the train file "
                f"(it has: {', '.join(table.column_names)}); rename it or use {setting_ref(path)}."
            )
    texts, raw, kept = clean_rows_indexed(table, text_col, label_col, cfg.drop_empty, allow_lists=multilabel)
    if multilabel:
        raw = split_label_lists(raw, cfg.label_delimiter)
    used[split] = table.source
    if len(table) > len(kept):
        notes.append(f"dropped {len(table) - len(kept)} {split} row(s) with an empty text or label")
    return Split(texts, _encode(raw, label2id, table.source, table.class_names, cfg), kept)


def _encode(
    raw: list[Any], label2id: dict[str, int], source: str, class_names: list[str] | None, cfg: DataConfig
) -> list[Any]:
    """Class indices (single-label) or lists of them (multi-label, ``raw`` already split)."""
    if raw and isinstance(raw[0], list):
        flat = encode_labels([v for row in raw for v in row], label2id, source, class_names)
        out, start = [], 0
        for row in raw:
            out.append(flat[start : start + len(row)])
            start += len(row)
        return out
    return encode_labels(raw, label2id, source, class_names)


def stratified_split(data: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out ``fraction`` of the examples as dev, keeping each label's share."""
    n_dev = max(int(round(len(data) * fraction)), 1)
    multilabel = any(isinstance(v, list) for v in data.labels)
    counts = Counter() if multilabel else Counter(data.labels)  # multi-label: a plain random split
    classes = len(counts)
    stratify = bool(counts) and min(counts.values()) >= 2 and n_dev >= classes
    if len(data) - n_dev < 1:
        raise DataError(
            f"only {len(data)} training example(s): too few to hold out a dev split; "
            f"give a dev file with {setting_ref('data.dev')}."
        )
    tr, dv = split_indices(len(data), data.labels if stratify else None, n_dev, seed)
    return data.subset(tr.tolist()), data.subset(dv.tolist())


def split_indices(
    n: int, strata: Sequence[Any] | None, n_out: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``train_test_split`` of rows ``0 .. n - 1`` (``test_size=n_out``, stratified
    by ``strata`` unless ``None``), both parts sorted; read back from the project cache when the
    same labels were split the same way before (a rerun skips importing scikit-learn and the
    shuffle: ~3 s at a million rows).

    Returns:
        (the rows kept, the ``n_out`` rows held out)
    """
    labels = np.asarray(strata) if strata is not None else None
    cache = TokenCache(SPLIT_CACHE_BYTES, cache_dir() / SPLIT_CACHE_KIND)
    key = content_key(SPLIT_CACHE_VERSION, n, n_out, seed, labels if labels is not None else "random")
    hit = cache.get(key)
    if hit is not None and len(hit.get("kept", ())) + len(hit.get("out", ())) == n:
        return np.asarray(hit["kept"]), np.asarray(hit["out"])
    from sklearn.model_selection import train_test_split

    # arrays, not lists: the same split (sklearn indexes either alike), 3x faster at 1M rows
    kept, out = train_test_split(np.arange(n), test_size=n_out, random_state=seed, stratify=labels)
    kept, out = np.sort(kept), np.sort(out)
    cache.put(key, {"kept": kept, "out": out})
    return kept, out


# -- statistics ----------------------------------------------------------------------------------
def label_counts(split: Split, label_names: list[str]) -> dict[str, int]:
    """Examples per label name, in label order (zero for a label the split lacks); a multi-label
    row counts once for each of its labels."""
    counts = Counter(v for row in split.labels for v in (row if isinstance(row, list) else [row]))
    return {name: counts.get(i, 0) for i, name in enumerate(label_names)}


def length_stats(token_lengths: list[int], max_length: int) -> dict[str, Any]:
    """Token-length percentiles (``p50``, ``p90``, ``p95``, ``p99``, ``max``) and ``truncated``, the
    share of texts longer than ``max_length``."""
    lengths = np.asarray(token_lengths or [0])
    stats: dict[str, Any] = {f"p{q}": int(np.percentile(lengths, q)) for q in (50, 90, 95, 99)}
    stats["max"] = int(lengths.max())
    stats["truncated"] = float((lengths > max_length).mean()) if token_lengths else 0.0
    return stats


def shared_texts(a: Split, b: Split) -> int:
    """How many distinct texts of ``b`` also appear in ``a`` (leakage between splits).

    Texts are compared after strip + lower-case; only ``b``'s are held in a set, so pass the
    smaller split as ``b`` (a 1,000,000-row ``a`` then costs one pass, not a copy).
    """
    wanted = {_key(t) for t in b.texts}
    return len({key for key in (_key(t) for t in a.texts) if key in wanted})


def _key(text: Any) -> str:
    """A text (or a named-entity row's word list, joined) stripped and lower-cased."""
    return (" ".join(text) if isinstance(text, list) else text).strip().lower()
