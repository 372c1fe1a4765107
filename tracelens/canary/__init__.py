"""tracelens.canary."""
