"""Queries and rules, one module per resource; handlers stay thin and call these."""
