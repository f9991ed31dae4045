"""``python -m mmface_studio`` runs the command line (the GUI by default)."""

import sys

from mmface_studio.cli import main

sys.exit(main())
