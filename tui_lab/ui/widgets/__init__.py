"""The lab's panes and charts."""
