"""`python -m parity` is the `parity` console script."""

from parity.cli.app import main

raise SystemExit(main())
