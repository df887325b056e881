"""Stage 1, data: reading and checking files, and the token arrays a run trains on.

- ``files``: where the splits are (a file, a folder of train/dev/test files, a hub dataset id)
  and reading one into columns (CSV, TSV, JSONL/JSON, Parquet), with one sentence per way a
  file can be unreadable.
- ``checks``: which columns hold text and labels, empty rows, label values, multi-label lists.
- ``splits``: :func:`~tui_lab.core.data.splits.load_data`, a run's train/dev/test splits with one
  label map; label counts, length percentiles and train/dev overlap.
- ``tagged``: token-tagged data for NER (CoNLL files, tokens/tags tables, IOB2).
- ``texts``: unlabelled text for masked-LM pretraining.
- ``batching``: token ids in flat arrays, length-grouped batch order, padding a batch.
- ``token_cache``: encoded splits on disk, keyed by their content, memory-mapped back, LRU-bounded.

Above the foundation only (errors, settings, config, hub); nothing here knows a model or a task.
The Dataset pane's description of the data *as a run would see it* (task, tokenizer) is
:mod:`tui_lab.core.training.preview`.
"""
