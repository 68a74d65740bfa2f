"""Orchestration: jobs wire pure model code to the side effects in ``io``."""
