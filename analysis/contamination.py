"""Did a checkpoint see the test set? Verbatim test problems and canary strings in its generations.

A model trained on leaked test problems tends to reproduce them: asked one question, it continues with another
from the same split. For every generated output this module measures its overlap with every test problem of the
evaluation's data folder *other than the one it was asked* (and that problem's perturbed versions, which share its
text): the share of the problem's word 8-grams that appear in the output. A share of at least one half is a
verbatim reproduction and the output is flagged. Outputs are also searched for the data folder's canary string
(tasks.guards), which only a model trained on the folder's files would write.

Problems made from one template share phrases ("What is the interior angle at W in degrees?"), but not half of
their 8-grams once names, letters and numbers differ, so the threshold separates wording from reproduction.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd
from tsft.tasks.guards import CANARY_PREFIX

N = 8
THRESHOLD = 0.5
COLUMNS = ["model", "step", "outputs", "flagged", "flagged_share", "max_overlap", "canary_hits", "example_output_of",
           "example_reproduces"]


def ngrams(text: str, n: int = N) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", str(text).lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class TestIndex:
    """The word n-grams of every test problem, by the original it belongs to."""

    def __init__(self, problems: pd.DataFrame, n: int = N):
        self.n = n
        self.grams: dict[str, set] = {}
        self.owner: dict[str, str] = {}
        self.index: dict[tuple, set[str]] = defaultdict(set)
        for row in problems.itertuples():
            grams = ngrams(row.text, n)
            if grams:
                self.grams[row.problem_id], self.owner[row.problem_id] = grams, row.original_id
                for gram in grams:
                    self.index[gram].add(row.problem_id)

    def best_match(self, output: str, own_original: str) -> tuple[float, str | None]:
        """(largest share of one other test problem's n-grams found in `output`, that problem's id)."""
        hits: dict[str, int] = defaultdict(int)
        for gram in ngrams(output, self.n):
            for problem in self.index.get(gram, ()):
                if self.owner[problem] != own_original:
                    hits[problem] += 1
        if not hits:
            return 0.0, None
        problem = max(hits, key=lambda p: hits[p] / len(self.grams[p]))
        return hits[problem] / len(self.grams[problem]), problem


def scan(predictions: pd.DataFrame, problems: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """One row per output: its best overlap with another test problem, whether it is flagged, canary found."""
    if predictions.empty or problems.empty or "output" not in predictions:
        return pd.DataFrame()
    index = TestIndex(problems)
    rows = []
    for row in predictions.itertuples():
        share, match = index.best_match(str(row.output), row.original_id)
        rows.append({"model": row.model, "step": row.step, "problem_id": row.problem_id, "overlap": share,
                     "reproduces": match, "flagged": share >= threshold, "canary": CANARY_PREFIX in str(row.output)})
    return pd.DataFrame(rows)


def contamination_table(predictions: pd.DataFrame, problems: pd.DataFrame,
                        threshold: float = THRESHOLD) -> pd.DataFrame:
    """Per (model, step): outputs scanned, flagged reproductions, the largest overlap, canary hits, one example."""
    scanned = scan(predictions, problems, threshold)
    if scanned.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for (model, step), group in scanned.groupby(["model", "step"], sort=True):
        flagged = group[group["flagged"]]
        example = flagged.iloc[0] if len(flagged) else None
        rows.append({"model": model, "step": int(step), "outputs": len(group), "flagged": len(flagged),
                     "flagged_share": len(flagged) / len(group), "max_overlap": float(group["overlap"].max()),
                     "canary_hits": int(group["canary"].sum()),
                     "example_output_of": None if example is None else example["problem_id"],
                     "example_reproduces": None if example is None else example["reproduces"]})
    return pd.DataFrame(rows, columns=COLUMNS)
