"""tracelens.analysis."""
