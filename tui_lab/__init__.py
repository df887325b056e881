"""tui-lab: fine-tune text classifiers from a terminal."""

__version__ = "0.1.0"
