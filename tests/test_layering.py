"""DESIGN.md rules 1 and 2, read from the source: which layer imports which, no import circles
(module-level or inside functions), and TensorFlow only in pp/ and big_paligemma/data/."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("big_paligemma", "pp", "configs", "evaluators", "trainers", "tools")
# What each layer may import (besides itself and third-party code).
ALLOWED = {
    "big_paligemma": set(),
    "pp": {"big_paligemma"},
    "configs": {"big_paligemma", "pp"},
    "evaluators": {"big_paligemma", "pp"},
    "trainers": {"big_paligemma", "pp", "evaluators"},
    "tools": {"big_paligemma", "pp", "configs", "evaluators", "trainers"},
}
TF_MODULES = ("tensorflow", "tensorflow_datasets")
TF_ALLOWED = ("pp", "big_paligemma.data")


def _modules() -> dict[str, pathlib.Path]:
  out = {}
  for package in PACKAGES:
    for path in sorted((ROOT / package).rglob("*.py")):
      parts = path.relative_to(ROOT).with_suffix("").parts
      out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
  return out


def _imports(path: pathlib.Path, name: str, modules) -> set[str]:
  """Every module `path` imports anywhere in the file (absolute names; `from a import b` is a.b
  when a.b is a module of the project, else a)."""
  is_package = path.name == "__init__.py"
  out = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      out.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = name.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[:len(anchor) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.add(sub if sub in modules else base)
  return out


def _graph():
  modules = _modules()
  return modules, {m: _imports(p, m, modules) for m, p in modules.items()}


def test_layers_import_only_what_is_below_them():
  _, graph = _graph()
  bad = []
  for module, imports in graph.items():
    layer = module.split(".")[0]
    for imp in imports:
      top = imp.split(".")[0]
      if top in PACKAGES and top != layer and top not in ALLOWED[layer]:
        bad.append(f"{module} imports {imp}")
  assert not bad, "imports against DESIGN.md rule 1:\n" + "\n".join(sorted(bad))


def test_no_import_circles():
  modules, graph = _graph()
  edges = {m: sorted(i for i in imports if i in modules and i != m)
           for m, imports in graph.items()}
  state, stack, cycles = {}, [], []

  def visit(m):
    state[m] = "open"
    stack.append(m)
    for n in edges[m]:
      if state.get(n) == "open":
        cycles.append(" -> ".join(stack[stack.index(n):] + [n]))
      elif n not in state:
        visit(n)
    stack.pop()
    state[m] = "done"

  for m in sorted(edges):
    if m not in state:
      visit(m)
  assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_tensorflow_only_in_pp_and_data():
  _, graph = _graph()
  bad = [f"{m} imports {i}" for m, imports in graph.items() for i in imports
         if i.split(".")[0] in TF_MODULES and m.startswith("big_paligemma")
         and not m.startswith(TF_ALLOWED)]
  assert not bad, "TensorFlow outside pp/ and big_paligemma/data/:\n" + "\n".join(sorted(bad))


def test_the_checker_sees_function_level_imports(tmp_path):
  """The graph includes imports inside functions (a circle hidden that way is still found)."""
  path = tmp_path / "m.py"
  path.write_text("def f():\n  from big_paligemma import tree\n  import evaluators.common\n")
  modules = _modules()
  assert _imports(path, "big_paligemma.m", modules) == {"big_paligemma.tree",
                                                         "evaluators.common"}
