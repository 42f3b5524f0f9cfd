"""Rendering results (cards, plots, summaries) from plain data. Never imports torch."""
