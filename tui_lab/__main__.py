"""`python -m tui_lab` runs the same command as `tui-lab`."""

import sys

from tui_lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
