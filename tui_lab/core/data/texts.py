"""Unlabelled text for masked-LM pretraining: a ``.txt`` file (one text a line) or a table's text column.

:func:`load_texts` holds 5% of the texts out as dev, by the seed; labels, if any, are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_lab.core.data.checks import infer_text_column
from tui_lab.core.data.files import read_table, resolve_sources
from tui_lab.core.data.splits import DataBundle, Split
from tui_lab.core.errors import DataError

DEV_SHARE = 0.05  # texts held out as dev


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
