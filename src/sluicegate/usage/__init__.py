"""Usage accounting: token counts (tokens.py) and their estimated cost (cost.py)."""
