"""Scraping, filtering and splitting Elm files into a training corpus (built on the core grammar)."""
