"""`python -m scripts.bench`: exit status 0, 1 when a route answered errors, 2 when something
the bench needs is missing, 130 when interrupted."""

import sys

from . import BenchError
from .cli import main

try:
    sys.exit(main())
except BenchError as exc:
    print(f"bench: {exc}", file=sys.stderr)
    sys.exit(2)
except KeyboardInterrupt:
    print("bench: interrupted", file=sys.stderr)
    sys.exit(130)
