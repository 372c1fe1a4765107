"""``python -m tracelens`` runs the command line."""

from tracelens.cli.main import main

main()
