"""Scraping, filtering and splitting Elm files into a training corpus (built on the core grammar).

The pipeline, one step per module, each step reading the previous one's JSON Lines:

- sources write ``files.jsonl`` (:mod:`.records` describes a record):
  :mod:`.scrape` (GitHub, resumable; HTTP in :mod:`.github`), :mod:`.npm`, :mod:`.local`,
  :mod:`.manifest` (a corpus folder with its manifest, sha256 checked)
- :mod:`.filter`: keep what the grammar parses, a reason for the rest (generated code
  by named rules)
- :mod:`.units` cuts one file into declaration units; :mod:`.split` runs it over a corpus
  (:mod:`.comments` removes comments when asked)
- :mod:`.dataset`: licences, duplicates, the token cap, split by repository,
  ``DatasetDict``; :mod:`.tokens` counts tokens, :mod:`.stats` gives the figures and
  each step's time and memory (``elmgrammar corpus stats``)
- :mod:`.bench`: files/s and lines/s of filter + units
- :mod:`.cli`: the ``elmgrammar corpus ...`` and ``elmgrammar units`` commands

Importing this package loads no heavy dependency: requests, datasets and tokenizers are
imported by the steps that use them.

>>> from elmgrammar.corpus import split_units
>>> [u.name for u in split_units("x = 1\\n\\ntype T = A\\n").units]
['x', 'T']
"""

from .filter import FilterOptions, filter_records, run_filter
from .split import run_units, unit_stream
from .units import Unit, UnitOptions, split_units

__all__ = ["FilterOptions", "Unit", "UnitOptions", "filter_records", "run_filter", "run_units", "split_units",
           "unit_stream"]
