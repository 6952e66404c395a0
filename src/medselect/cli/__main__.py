"""``python -m medselect.cli``: the same as the ``medselect`` command."""

from medselect.cli.main import main

main()
