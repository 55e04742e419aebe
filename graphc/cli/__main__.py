"""``python -m graphc.cli``: the ``graphc`` command line, as ``graphc.cli.main`` runs it."""
import sys

from graphc.cli.app import main

sys.exit(main())
