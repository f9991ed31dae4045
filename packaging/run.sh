#!/usr/bin/env bash
# The two entry points the README documents:
#   bash packaging/run.sh app    set up this machine, then open MMFace Studio on the built-in head
#   bash packaging/run.sh test   set up this machine, then run the whole test suite under Xvfb
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
what="${1:-app}"
shift || true

case "$what" in
  app)
    bash packaging/setup.sh
    if [ -z "${DISPLAY:-}" ]; then
      echo "[run] no DISPLAY: starting on a virtual screen (Xvfb); use a desktop session to see the window"
      exec xvfb-run -a -s "-screen 0 1920x1080x24" "$PYTHON" main.py --demo "$@"
    fi
    exec "$PYTHON" main.py --demo "$@"
    ;;
  test)
    bash packaging/setup.sh --test
    # Xvfb gives the GUI tests a real X server with Mesa OpenGL; pytest's exit code is ours.
    exec xvfb-run -a -s "-screen 0 1920x1080x24" "$PYTHON" -m pytest -q "$@"
    ;;
  *)
    echo "usage: bash packaging/run.sh app|test [args]" >&2
    exit 2
    ;;
esac
