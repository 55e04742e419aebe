"""``python -m graphc``: the same command line as the ``graphc`` script (graphc.cli)."""
import sys

from graphc.cli import main

sys.exit(main())
