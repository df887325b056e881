"""Stage 2, models: the tokenizer and the network, built from scratch or loaded.

- ``modeling``: the offline presets (``tiny-bert``, ``small-bert``: a WordPiece tokenizer learned
  on the training texts and a small ``BertConfig``), any Hugging Face model id or folder through
  the ``Auto*`` classes, heads (sequence, token), and one sentence when a hub id is unreachable.
- ``masked_lm``: masked-LM models for pretraining (a preset, or a pretrained model continued).
- ``checkpoint``: model folders written atomically and read without unpickling code.

Uses data (the training texts a preset tokenizer learns from); knows no task.
"""
