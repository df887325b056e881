"""Stage 5, analysis: why a trained model is wrong, and why it said what it said.

- ``analyze``: error analysis of a run's best weights (``tui-lab analyze``, the lab's F9).
- ``label_issues``: training rows whose label is probably wrong (cross-validated TF-IDF and
  the model's out-of-sample probabilities, ranked by cleanlab).
- ``calibration``: reliability bins, ECE and temperature scaling.
- ``explain``: which words pushed a classifier to its label (Integrated Gradients, captum).

Uses deployment's predictor to run the model; per-task behaviour comes from the task's hooks.
"""
