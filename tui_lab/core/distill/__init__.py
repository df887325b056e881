"""Knowledge distillation: a small student learns a fine-tuned teacher's soft labels.

A distilled run is an ordinary run (``tui-lab train`` with ``train.teacher`` set, or ``tui-lab
distill``) with one hook: at set-up it runs the teacher once over the training (and unlabelled)
texts through the deploy predictor, keeps the logits in the run folder as a memory-mapped
float16 file, and trains through a task wrapper whose loss mixes the teacher's soft labels with
the task's own loss. The loop, evaluation and checkpoints are the run's usual ones; the saved
student is a plain classifier. It sits at the analysis layer, above the predictor it uses.
"""

from tui_lab.core.distill.hooks import TEACHER_FILE, TEACHER_LOGITS_FILE, Distiller, hooks_for

__all__ = ["TEACHER_FILE", "TEACHER_LOGITS_FILE", "Distiller", "hooks_for"]
