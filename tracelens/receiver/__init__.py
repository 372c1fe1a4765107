"""tracelens.receiver."""
