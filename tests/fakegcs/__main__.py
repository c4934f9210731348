"""Entry point: ``python3 -m tests.fakegcs --port 0 --port-file FILE --bucket NAME``."""

import sys

from .server import main

sys.exit(main())
