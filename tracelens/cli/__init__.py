"""tracelens.cli."""
