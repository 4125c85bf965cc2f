"""``python -m efftheory`` runs the command line."""

from efftheory.cli import main

raise SystemExit(main())
