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
         "43.7 / 78 / 84.8 (224/448/896) | PG2 3B 39.9 / 73.6 (224/448) |" in table
  assert "| pope |" in table and "eval only" in table.split("| pope |")[1].splitlines()[0]
