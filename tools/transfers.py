"""The table of transfers (configs/published.py) as markdown: `python -m tools.transfers`.

One row per published transfer: its config command, the metric its evaluator reports, the
published resolutions, the published scores of PaliGemma 1 3B and PaliGemma 2 (3B / 10B /
28B where published) per resolution, and PaliGemma 2's recipe: "per size" (its own learning rate
per size, `pg2_recipes`) or the row's `pg2_note` (PaliGemma 1 3B's recipe, and why). The README's
"Transfers" table is this output (a test keeps them equal).
"""
import argparse

from configs import published

README_BEGIN = "<!-- transfers table: python -m tools.transfers -->"
README_END = "<!-- end of transfers table -->"
_MODEL_NAMES = {"pg1_3b": "PG1 3B", "pg2_3b": "PG2 3B", "pg2_10b": "PG2 10B",
                "pg2_28b": "PG2 28B"}


def _scores(by_res) -> str:
  return " / ".join(f"{by_res[r]:g}" for r in sorted(by_res)) + \
      f" ({'/'.join(str(r) for r in sorted(by_res))})"


def row(t: published.Transfer) -> str:
  command = f"`configs/transfer/{t.name}.py:res=R[,model=M]`"
  pg1 = _scores(t.scores["pg1_3b"]) if "pg1_3b" in t.scores else ""
  pg2 = "; ".join(f"{_MODEL_NAMES[m]} {_scores(t.scores[m])}" for m in published.MODELS[1:]
                  if m in t.scores)
  resolutions = ", ".join(str(r) for r in sorted(t.recipes)) or "eval only"
  pg2_recipe = "per size" if t.pg2_recipes else t.pg2_note
  return f"| {t.name} | {command} | {t.metric} | {resolutions} | {pg1} | {pg2} | {pg2_recipe} |"


def table() -> str:
  head = ["| transfer | config | metric | trained at | PaliGemma 1 3B | PaliGemma 2 | "
          "PaliGemma 2 recipe |", "|---|---|---|---|---|---|---|"]
  return "\n".join(head + [row(t) for t in published.TRANSFERS.values()])


def main(argv=None) -> str:
  argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
  text = table()
  print(text)
  return text


if __name__ == "__main__":
  main()
