"""``python -m tierline`` runs the CLI."""

from tierline.cli import main

main()
