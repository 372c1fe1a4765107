"""tracelens.slo."""
