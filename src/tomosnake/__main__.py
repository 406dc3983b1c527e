"""``python -m tomosnake``: the ``tomosnake`` command."""

from tomosnake.cli import main

raise SystemExit(main())
