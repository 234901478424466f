"""Build the Chinese edition, notebooks/zh/, from the English notebooks and one translation file each.

Usage:
    python scripts/build_zh.py             # write notebooks/zh/*.ipynb from the sources
    python scripts/build_zh.py --check     # say what is missing, stale or out of date; exit 1 if anything is
    python scripts/build_zh.py --stub      # add the English text of untranslated or changed cells to the files

A Chinese notebook is its English notebook with every markdown cell replaced by its translation: code cells,
outputs and metadata stay the English notebook's, so no Chinese notebook needs a second execution.

A translation file, notebooks/zh/translations/NN_name.md, holds one entry per English markdown cell::

    <!-- cell 134f475d en-sha 0a1b2c3d4e5f -->
    中文译文 ...

``--stub`` writes new entries with the English text and its hash: replace the text with Chinese.
``cell`` is the cell's id in the English notebook; ``en-sha`` the first 12 hex digits of the SHA-256 of the
English text the entry translates. When the English cell changes, its hash no longer matches and the check
names the cell as stale: update the Chinese text, then the hash (``--stub`` puts the new English text and hash
in a comment above the entry). Links in the English text that leave notebooks/ (``../README.md``) are written
one folder further up in the built notebook (``../../README.md``); translators copy links as they are.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from mnistlab.exercises import source_of as source  # a cell's text, whether stored as lines or as one string

REPO = Path(__file__).resolve().parents[1]
EN_DIR = REPO / "notebooks"
ZH_DIR = EN_DIR / "zh"
TRANSLATIONS = ZH_DIR / "translations"
GLOSSARY = REPO / "GLOSSARY.md"

ENTRY = re.compile(r"^<!-- cell (?P<id>[\w-]+) en-sha (?P<sha>[0-9a-f]{12}) -->[ \t]*$", re.M)
ENGLISH_NOTE = re.compile(r"<!-- English \(en-sha [0-9a-f]{12}\):.*?-->\n?", re.S)
CJK = re.compile(r"[\u3400-\u9fff]")
HEADER = """# {name} · 中文翻译 (translation of notebooks/{name})

<!-- One entry per English markdown cell, in the English notebook's order. Each entry starts with its marker
line: the English cell's id and the hash of the English text it translates. Keep markers as they are; edit the
Chinese below them. After a change to the English notebook, `python scripts/build_zh.py --check` names the
stale or missing entries and `--stub` adds their English text here; `python scripts/build_zh.py` then builds
notebooks/zh/. Terms: GLOSSARY.md. -->
"""


def sha(text: str) -> str:
    """The hash an entry records for the English text it translates."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def english_notebooks() -> list[Path]:
    return sorted(EN_DIR.glob("[0-9][0-9]_*.ipynb"))


def translation_path(english: Path) -> Path:
    return TRANSLATIONS / (english.stem + ".md")


@dataclass
class Entry:
    cell_id: str
    sha: str
    text: str


def read_translation(path: Path) -> dict[str, Entry]:
    """The entries of one translation file, by English cell id."""
    text = path.read_text(encoding="utf-8")
    marks = list(ENTRY.finditer(text))
    entries: dict[str, Entry] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = ENGLISH_NOTE.sub("", text[mark.end():end]).strip("\n")
        entries[mark["id"]] = Entry(mark["id"], mark["sha"], body.rstrip())
    return entries


def read_glossary(path: Path = GLOSSARY) -> list[tuple[re.Pattern, list[str], str]]:
    """The checked rows of the glossary: (English pattern, accepted Chinese terms, the English term)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) < 3 or cols[2] != "✓":
            continue
        english = cols[0]
        spellings = {english, english.replace("isation", "ization"), english.replace("iser", "izer")}
        words = "|".join(r"\s+".join(map(re.escape, s.split())) for s in sorted(spellings))
        pattern = re.compile(rf"(?<![\w-])(?:{words})(?:s|es)?(?![\w-])", re.I)
        rows.append((pattern, [t.strip() for t in cols[1].split(" / ")], english))
    return rows


def prose(text: str) -> str:
    """A markdown text without its code, link addresses and tags: the words a reader reads as prose."""
    return re.sub(r"```.*?```|`[^`\n]*`|\]\([^)]*\)|<[^>]+>|https?://\S+", " ", text, flags=re.S)


def glossary_problems(english: str, chinese: str, glossary) -> list[str]:
    """The checked terms the English text uses whose Chinese term the translation lacks."""
    english, chinese = prose(english), prose(chinese)
    return [f"'{term}' -> {' / '.join(accepted)}" for pattern, accepted, term in glossary
            if pattern.search(english) and not any(a.lower() in chinese.lower() for a in accepted)]


def has_words(text: str) -> bool:
    """Whether a markdown text has English prose to translate (not only code, links, numbers or symbols)."""
    return re.search(r"[A-Za-z]{3,}", prose(text)) is not None


def rewrite_links(text: str) -> str:
    """Links that leave notebooks/ go one folder further up from notebooks/zh/."""
    return re.sub(r"\]\(\.\./", "](../../", text)


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def build(english: Path, entries: dict[str, Entry], nb: dict | None = None) -> dict:
    """The Chinese notebook: the English one (``nb``: already read) with each markdown cell's text replaced by
    its translation."""
    zh = copy.deepcopy(nb if nb is not None else read_notebook(english))
    for cell in zh["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        entry = entries.get(cell["id"])
        if entry is None or not entry.text.strip():
            continue  # the check reports it; the English text stays until it is translated
        cell["source"] = rewrite_links(entry.text).splitlines(keepends=True)
    zh["metadata"].setdefault("mnistlab", {})["language"] = "zh-CN"
    zh["metadata"]["mnistlab"]["built_from"] = f"../{english.name} + translations/{english.stem}.md"
    return zh


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def problems(english: Path) -> list[str]:
    """What keeps this notebook's translation from being complete and current, each with how to fix it."""
    name = english.name
    path = translation_path(english)
    rel = path.relative_to(REPO)
    if not path.exists():
        return [f"{name}: no translation file {rel}: run `python scripts/build_zh.py --stub` and translate it"]
    nb = read_notebook(english)
    entries = read_translation(path)
    found = []
    ids = set()
    glossary = read_glossary()
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        ids.add(cell["id"])
        text = source(cell)
        entry = entries.get(cell["id"])
        where = f"{name} cell {index} (id {cell['id']})"
        if entry is None or not entry.text.strip():
            found.append(f"{where} has no translation: translate it in {rel} "
                         "(`python scripts/build_zh.py --stub` adds the English text; replace it with Chinese)")
        elif entry.sha != sha(text):
            found.append(f"{where} is stale: the English text changed since it was translated; update the "
                         f"Chinese in {rel} and set its en-sha to {sha(text)} (`--stub` shows the new English)")
        elif has_words(text) and (not CJK.search(entry.text) or entry.text.strip() == text.strip()):
            found.append(f"{where} is not translated: its entry in {rel} has no Chinese text")
        else:
            missing = glossary_problems(text, entry.text, glossary)
            if missing:
                found.append(f"{where}: the translation in {rel} does not use GLOSSARY.md's term for "
                             + "; ".join(missing))
    for cell_id in entries:
        if cell_id not in ids:
            found.append(f"{name}: {rel} has an entry for cell {cell_id}, which is not a markdown cell of the "
                         "English notebook any more: remove it")
    zh = ZH_DIR / name
    if not zh.exists():
        found.append(f"{name}: notebooks/zh/{name} is missing: run `python scripts/build_zh.py`")
    elif zh.read_text(encoding="utf-8") != dumps(build(english, entries, nb)):
        found.append(f"{name}: notebooks/zh/{name} is not what the sources build: run "
                     "`python scripts/build_zh.py` (never edit notebooks/zh/*.ipynb by hand)")
    return found


def stub(english: Path) -> int:
    """Add the English text of every untranslated or stale cell to the translation file; return how many."""
    nb = read_notebook(english)
    path = translation_path(english)
    entries = read_translation(path) if path.exists() else {}
    parts = [HEADER.format(name=english.name)]
    changed = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = source(cell)
        entry = entries.get(cell["id"])
        if entry is None or not entry.text.strip():
            parts.append(f"<!-- cell {cell['id']} en-sha {sha(text)} -->\n{text}\n")
            changed += 1
        elif entry.sha != sha(text):
            parts.append(f"<!-- cell {cell['id']} en-sha {entry.sha} -->\n"
                         f"<!-- English (en-sha {sha(text)}):\n{text.replace('-->', '-- >')}\n-->\n"
                         f"{entry.text}\n")
            changed += 1
        else:
            parts.append(f"<!-- cell {cell['id']} en-sha {entry.sha} -->\n{entry.text}\n")
    TRANSLATIONS.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="names like 00_ml_workflow (default: all)")
    parser.add_argument("--check", action="store_true", help="report problems, build nothing")
    parser.add_argument("--stub", action="store_true", help="add English text for cells still to translate")
    args = parser.parse_args(argv)
    chosen = english_notebooks()
    if args.notebooks:
        wanted = {Path(n).stem for n in args.notebooks}
        chosen = [p for p in chosen if p.stem in wanted]
        if len(chosen) != len(wanted):
            parser.error(f"no such notebook among {sorted(wanted)}")
    if args.stub:
        for english in chosen:
            print(f"{english.name}: {stub(english)} cell(s) to translate")
        return 0
    if args.check:
        found = [p for english in chosen for p in problems(english)]
        print("\n".join(found) if found else f"{len(chosen)} Chinese notebook(s) complete and current")
        return 1 if found else 0
    ZH_DIR.mkdir(parents=True, exist_ok=True)
    for english in chosen:
        path = translation_path(english)
        entries = read_translation(path) if path.exists() else {}
        (ZH_DIR / english.name).write_text(dumps(build(english, entries)), encoding="utf-8")
        print(f"notebooks/zh/{english.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
