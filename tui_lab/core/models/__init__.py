"""Stage 2, models: the tokenizer and the network, built from scratch or loaded.

- ``presets``: the offline presets (``tiny-bert``, ``small-bert``): a WordPiece tokenizer learned
  on the training texts and a small ``BertConfig``.
- ``loading``: any Hugging Face model id or folder through the ``Auto*`` classes (safetensors
  only), and one sentence when a hub id is unreachable; ``build`` makes a new run's model.
- ``decoders``: decoder LLMs (Llama, Qwen, GPT-2...) as classifiers: pad token, padding side,
  gradient checkpointing.
- ``heads``: a model's head (sequence, token, masked LM) and the classes that build it.
- ``masked_lm``: masked-LM models for pretraining (a preset, or a pretrained model continued).
- ``checkpoint``: model folders written atomically and read without unpickling code.

Uses data (the training texts a preset tokenizer learns from); knows no task.
"""
