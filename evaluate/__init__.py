"""Evaluation of Elm completions with accurate judges."""
