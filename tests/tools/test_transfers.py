"""tools.transfers: the README's transfers table is the published table's."""
import pathlib

from configs import published
from tools import transfers

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_is_the_published_table():
  text = README.read_text()
  begin = text.index(transfers.README_BEGIN) + len(transfers.README_BEGIN)
  assert text[begin:text.index(transfers.README_END)].strip() == transfers.table(), (
      "README's transfers table is stale: paste `python -m tools.transfers` between its markers.")


def test_rows_name_each_transfer_with_its_scores():
  table = transfers.table()
  assert len(table.splitlines()) == 2 + len(published.TRANSFERS)
  assert "| docvqa | `configs/transfer/docvqa.py:res=R[,model=M]` | anls | 224, 448, 896 | " \
         "43.7 / 78 / 84.8 (224/448/896) | PG2 3B 39.9 / 73.6 (224/448); PG2 10B 43.9 / 76.6 " \
         "(224/448); PG2 28B 44.9 / 76.1 (224/448) | per size |" in table
  assert "| pope |" in table and "eval only" in table.split("| pope |")[1].splitlines()[0]


def test_every_trained_row_says_which_recipe_paligemma_2_trains_with():
  """A row either has PaliGemma 2's own recipe for each size at each published resolution up to
  448 (the PaliGemma 2 paper's per-size learning rates) or says why it uses PaliGemma 1 3B's;
  the table's last column shows which."""
  table = transfers.table()
  for t in published.TRANSFERS.values():
    if not t.recipes:
      continue
    line = next(l for l in table.splitlines() if l.startswith(f"| {t.name} |"))
    if t.pg2_recipes:
      want = {(m, r) for m in published.MODELS[1:] for r in t.recipes if r <= 448}
      assert want <= set(t.pg2_recipes), (t.name, sorted(want - set(t.pg2_recipes)))
      assert line.endswith("| per size |")
    else:
      assert t.pg2_note.startswith("PG1 3B's"), t.name
      assert line.endswith(f"| {t.pg2_note} |")
      for model in published.MODELS[1:]:
        assert all(t.recipe(model, r) == t.recipes[r] for r in t.recipes), t.name


def test_every_published_score_is_in_its_configs_docstring():
  """Issue 13: each config's docstring states its published scores (PaliGemma 1 and 2, and its
  other evaluations'), as written in the table (`{:g}`: 81.0 appears as 81.0 or 81)."""
  import importlib  # pylint: disable=import-outside-toplevel
  import re  # pylint: disable=import-outside-toplevel
  for t in published.TRANSFERS.values():
    doc = " ".join(importlib.import_module(f"configs.transfer.{t.name}").__doc__.split())
    numbers = {float(x) for x in re.findall(r"\d+(?:\.\d+)?", doc)}
    for by_model in [t.scores, *t.other_scores.values()]:
      for model, by_res in by_model.items():
        missing = {r: v for r, v in by_res.items() if v not in numbers}
        assert not missing, (t.name, model, missing)
