"""Evaluation of Elm completions with accurate judges (``elmgrammar evaluate``).

One module per step:

- :mod:`.prompts`: the user's ``test.json`` (and the 9 seed prompts shipped in ``data/``);
  :mod:`.heldout`: held-out prompts from the corpus's test split, with references
- :mod:`.generate`: the model (+ adapter), sampling, both sides of the comparison
- :mod:`.generations`: completions as records; JSON Lines and the user's text format
- :mod:`.judges`: our grammar, the compiler, tree-sitter, elm-format, and the verdict
  that counts; :mod:`.project`: the compile check inside the user's Elm project
- :mod:`.metrics`: repetition, length, exact match, edit similarity
- :mod:`.records`: one record per completion; :mod:`.report`: counts and Markdown;
  :mod:`.chart`: the PNG
- :mod:`.run`: the whole evaluation as one call; :mod:`.cli`: the subcommand
- :mod:`.bench` (``elmgrammar bench``) and :mod:`.bench_judges` (``bench evaluate``)

Importing the package loads neither torch nor matplotlib: the steps that need them
import them.
"""
