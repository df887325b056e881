"""The UI-free core: configuration, data, models, training, metrics, prediction.

Nothing in this package imports textual, rich, plotext or ``tui_lab.ui``; the faces (the lab,
the CLI, the watcher) only consume the events the trainer emits.
"""
