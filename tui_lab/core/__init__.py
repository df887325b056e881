"""The UI-free core, by stage of the pipeline: data -> models -> tasks -> training -> analysis, deploy.

The foundation sits below every stage: ``errors`` (what a user can fix, one sentence),
``settings`` (every setting declared once) and ``config`` (``LabConfig``: validation, TOML),
``atomic`` (writes readers never see half of), ``cache`` (learned tokenizers), ``hub`` (one
quick question to the Hugging Face hub) and ``imports`` (heavy libraries imported once).

Each stage imports only stages before it (import-linter contracts in ``pyproject.toml`` check
it in CI). Nothing in this package imports textual, rich, plotext, ``tui_lab.ui``,
``tui_lab.cli`` or ``tui_lab.server``; the faces only consume the events the trainer emits.
"""
