"""tracelens.model."""
