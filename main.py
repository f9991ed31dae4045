"""Start MMFace Studio's window: ``python main.py`` (same as ``mmface-studio gui``)."""

import sys

from mmface_studio.cli import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
