"""`python -m parity` is the `parity` console script."""

from parity.cli import main

raise SystemExit(main())
