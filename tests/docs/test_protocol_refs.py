"""Citations of the protocol notes stay valid: docs/protocol.md is the only protocol reference.

Code, tests and docs cite OK.ru facts as ``docs/protocol.md §N`` and name sources by tags
(``TV-4b``, ``DOC-PHOTO``, ``AIO-OLD``...). These tests fail when a file points at a notes file
outside the repository, speaks of "the seed" (the library whose shape okru keeps is aiookru), cites
a section docs/protocol.md does not have, links to a heading that does not exist, or uses a tag
docs/protocol.md does not define.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"
SELF = Path(__file__).resolve()


def _files() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "noxfile.py", ROOT / "pyproject.toml"]
    for top, patterns in (("src", ("*.py",)), ("tests", ("*.py",)), ("docs", ("*.md", "*.py")),
                          ("benchmarks", ("*.py", "*.md"))):
        for pattern in patterns:
            found.extend((ROOT / top).rglob(pattern))
    return sorted(p for p in set(found) if p.is_file() and p.resolve() != SELF
                  and "__pycache__" not in p.parts)


FILES = _files()


def _lines() -> list[tuple[str, int, str]]:
    out = []
    for path in FILES:
        rel = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            out.append((rel, number, line))
    return out


LINES = _lines()

# A notes file outside the repository, by name or by path. ``docs/protocol.md`` is lower case.
OUTSIDE = re.compile(r"PROTOCOL(?:-VIDEO-BOTS)?\.md|\bPROTOCOL (?:research )?notes\b|\.\./shared\b|/work/shared\b")
# "the seed" meaning the original library (aiookru). A random seed ("seed=0", "--seed", "a seed
# replays...", "seeded generator", "the seed value") is not matched.
SEED = re.compile(
    r"\bseed-shaped\b|(?<!random )\bseed['’]s\b"
    r"|\bthe seed\b(?!\s*(?:=|value|argument|parameter|number|for the (?:emulator|generator|random)))",
    re.IGNORECASE,
)
# A section citation: with the file name, or bare (bare § always means docs/protocol.md here),
# except other documents' sections (RFC 6749 §5.2, PEP 8 §...).
CITED = re.compile(r"(?:docs/)?protocol\.md\s*§\s*(\d+(?:\.\d+)*)")
BARE = re.compile(r"(?<!protocol\.md )(?<!protocol\.md)§\s*(\d+(?:\.\d+)*)")
OTHER_DOC = re.compile(r"(?:RFC|PEP)\s*\d+\s*$")
# Source tags (docs/protocol.md §0, §2.7). AIO-OLD before AIO so the longer one wins.
TAG = re.compile(
    r"\b(TV-\d+[a-z]?|DOC-[A-Z]+|AIO-OLD|AIO|OLD-WIKI|PSA|PYOK|RUBY|SCRIBE|YANDEX|WSMC|MISC|UNITY|LEAGUE|AND1)\b"
)
LINK = re.compile(r"\]\((?:(?P<file>[\w./-]+\.md))?#(?P<anchor>[^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    anchors = {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE)}
    anchors |= set(re.findall(r'<a id="([^"]+)"></a>', text))
    return anchors


def _sections() -> set[str]:
    text = PROTOCOL.read_text(encoding="utf-8")
    return set(re.findall(r"^#{2,3}\s+(\d+(?:\.\d+)*)\.?\s", text, re.MULTILINE))


def _defined_tags() -> set[str]:
    """Tags docs/protocol.md defines: the first cell of a row of its source and vector tables."""
    text = PROTOCOL.read_text(encoding="utf-8")
    return set(re.findall(r'^\|\s*(?:<a id="[^"]+"></a>)?([A-Z][A-Za-z0-9-]*)\s*\|', text, re.MULTILINE))


def _report(hits: list[str]) -> str:
    return f"{len(hits)} line(s):\n" + "\n".join(hits[:80])


def test_the_scan_sees_the_tree() -> None:
    # Guard against a vacuous pass: the files the checks below read are really there.
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "docs/protocol.md", "src/okru_proto/_wire/sign.py", "tests/conftest.py"} <= names
    assert len(_sections()) >= 30
    assert {"TV-3", "TV-4b", "DOC-PHOTO", "AIO-OLD", "AIO", "YANDEX"} <= _defined_tags()


def test_no_reference_outside_the_repository() -> None:
    hits = [f"{f}:{n}: {line.strip()}" for f, n, line in LINES if OUTSIDE.search(line)]
    assert not hits, "cite docs/protocol.md §N instead of notes outside the repository: " + _report(hits)


def test_no_talk_of_the_seed() -> None:
    hits = [f"{f}:{n}: {line.strip()}" for f, n, line in LINES if SEED.search(line)]
    assert not hits, "name the original library (aiookru) instead of 'the seed': " + _report(hits)


@pytest.mark.parametrize(("line", "bad"), [
    ("the seed's shape", True), ("seed-shaped sessions", True), ("as in the seed.", True),
    ("The Seed's API", True), ("FakeOK(seed=8)", False), ("a seed replays the same faults", False),
    ("drawn from the seeded generator", False), ("--seed S", False), ("a random seed's value", False),
    ("the seed value", False),
])
def test_the_seed_pattern(line: str, bad: bool) -> None:
    assert bool(SEED.search(line)) is bad


def test_every_cited_section_exists() -> None:
    sections = _sections()
    hits = []
    for f, n, line in LINES:
        cited = [m.group(1) for m in CITED.finditer(line)]
        cited += [m.group(1) for m in BARE.finditer(line) if not OTHER_DOC.search(line[:m.start()])]
        hits += [f"{f}:{n}: §{s} ({line.strip()})" for s in cited if s not in sections]
    assert not hits, "docs/protocol.md has no such section: " + _report(hits)


def test_every_link_into_the_docs_has_its_heading() -> None:
    docs = ROOT / "docs"
    hits = []
    for path in [ROOT / "README.md", *sorted(docs.glob("*.md"))]:
        for m in LINK.finditer(path.read_text(encoding="utf-8")):
            target = (path.parent / m.group("file")) if m.group("file") else path
            if target.suffix == ".md" and target.exists() and m.group("anchor") not in _anchors(target):
                hits.append(f"{path.relative_to(ROOT)}: #{m.group('anchor')} in {target.relative_to(ROOT)}")
    assert not hits, "links to missing headings: " + _report(hits)


def test_every_tag_is_defined() -> None:
    defined = _defined_tags()
    hits = [f"{f}:{n}: {tag}" for f, n, line in LINES for tag in TAG.findall(line) if tag not in defined]
    assert not hits, "define these tags in docs/protocol.md §0 or §2.7: " + _report(hits)


def test_the_notes_state_utf16_ordering() -> None:
    # The signature sorts names by UTF-16 code units (Java String.compareTo), as OK.ru does;
    # the notes must state it (§2.4).
    assert re.search(r"UTF-16 code unit", PROTOCOL.read_text(encoding="utf-8"))
