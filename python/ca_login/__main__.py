"""``python -m ca_login`` runs the ``ca-login`` command line."""

from .cli import main

raise SystemExit(main())
