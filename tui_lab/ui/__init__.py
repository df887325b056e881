"""The Textual lab: panes for the dataset, the hyperparameters, the live run and predictions."""
