"""tracelens.views."""
