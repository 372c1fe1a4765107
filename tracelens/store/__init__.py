"""tracelens.store."""
