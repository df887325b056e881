"""Stage 6, deployment: a trained model used and taken out.

- ``predictor``: the one inference path (PyTorch or ONNX Runtime) behind the console,
  ``predict``, ``eval``, ``analyze``, ``explain`` and the server; ``fill_mask`` for masked LMs.
- ``eval_file``: a saved model scored on a labelled file (``tui-lab eval``).
- ``export``, ``export_tokens``: ONNX export and int8 quantization with a trade-off table;
  ``benchmark``: quality, latency and throughput of variants measured side by side;
  ``compare``: a student exported and measured beside its teacher (or any classifier).

Uses training (run folders), tasks, models and data; knows no face.
"""
