"""Logic-puzzle checkers: one module per family; each validates a candidate against the puzzle's constraints.

Shared pieces (answer-tag extraction, hedge detection, token and grid parsing) live in `common`.
"""
