"""``python -m losscli``."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C during start-up: the documented exit, no traceback
    sys.exit(130)

main()
