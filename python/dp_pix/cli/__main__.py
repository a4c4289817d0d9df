"""``python -m dp_pix.cli``: the ``dp-pix`` command."""

from dp_pix.cli import main

raise SystemExit(main())
