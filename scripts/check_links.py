"""Link check over README.md and docs/: every relative link names a file of the repository, and every
#anchor a heading of its page (GitHub's slugs). External links (http, https, mailto) are not fetched.

Run by `make lint` (and so by `make test`): `python3 scripts/check_links.py`, from any directory.
"""

import re
import sys
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent

# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"`+[^`]*`+")
EXTERNAL = ("http://", "https://", "mailto:")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, with their numbers."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    if path not in cache:
        seen: dict[str, int] = {}
        found = set()
        for _, line in prose(path.read_text(encoding="utf-8")):
            m = HEADING.match(line)
            if not m:
                continue
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        for explicit in re.findall(r'<a\s+(?:name|id)="([^"]+)"', path.read_text(encoding="utf-8")):
            found.add(explicit)
        cache[path] = found
    return cache[path]


def check(page: Path, cache: dict[Path, set[str]]) -> list[str]:
    errors = []
    for number, line in prose(page.read_text(encoding="utf-8")):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if target.startswith(EXTERNAL):
                continue
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / unquote(file_part)).resolve() if file_part else page
            if not dest.is_relative_to(ROOT):
                errors.append(f"{where}: leaves the repository")
            elif not dest.exists():
                errors.append(f"{where}: no such file")
            elif anchor:
                if dest.is_dir() or dest.suffix != ".md":
                    errors.append(f"{where}: an anchor into a file that is not Markdown")
                elif unquote(anchor) not in anchors(dest, cache):
                    errors.append(f"{where}: no heading with that anchor in {dest.relative_to(ROOT)}")
    return errors


def main() -> int:
    cache: dict[Path, set[str]] = {}
    checked = pages()
    errors = [e for page in checked for e in check(page, cache)]
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"{len(errors)} broken link(s) in README.md and docs/", file=sys.stderr)
        return 1
    print(f"links: {len(checked)} pages, every relative link and anchor resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
