"""tracelens.model.adjust."""
