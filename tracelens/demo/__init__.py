"""tracelens.demo."""
