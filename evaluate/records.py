"""One record per completion: every judge's verdict, the verdict that counts, and the
measures beyond syntax (repetition, length, reference scores, compile check).

>>> from elmgrammar.evaluate.generations import Generation
>>> with Judges(compiler=False) as judges:
...     [r["verdict"]["status"] for r in judge_generations([Generation("x =", " 1"), Generation("x =", " (1")], judges)]
['valid', 'prefix']
"""

from __future__ import annotations

from collections.abc import Sequence

from .generations import Generation
from .judges import Judges, agree, final_verdict
from .metrics import length, reference_scores, repetition
from .project import ElmProjectCompiler


def judge_generations(generations: Sequence[Generation], judges: Judges,
                      project: ElmProjectCompiler | None = None, progress: bool = False) -> list[dict]:
    """A record per generation, in order::

        {side, prompt_index, sample, prompt, completion, new_tokens, stop_reason, reference,
         verdict: {status, judge, line, column, message},   # the one that counts
         judges: {name: {valid, line, column, message, ...}}, agree,
         repetition: {ngram, n, repeats, start, covered, degenerate}, degenerate,
         length: {chars, lines, tokens, new_tokens},
         reference_scores: {exact_match, edit_similarity}      # with a reference
         compile: {ok, kind, problems}}                        # with a project
    """
    programs = [g.program for g in generations]
    verdicts = judges.judge(programs, progress=progress)
    compiled = project.check_many(programs, progress=progress) if project is not None else None
    records = []
    for i, (generation, judged) in enumerate(zip(generations, verdicts)):
        rep = repetition(generation.completion)
        record = generation.as_dict()
        record.update(
            verdict=final_verdict(judged),
            judges=judged,
            agree=agree(judged),
            repetition=rep.as_dict(),
            degenerate=rep.degenerate,
            length=dict(length(generation.completion), new_tokens=generation.new_tokens),
        )
        if generation.reference is not None:
            record["reference_scores"] = reference_scores(generation.completion, generation.reference)
        if compiled is not None:
            record["compile"] = compiled[i].as_dict()
        records.append(record)
    return records
