"""Pages of the documentation site generated at build time (mkdocs-gen-files).

Run by ``mkdocs build`` (see ``mkdocs.yml``), never by hand. It writes three sets of
virtual pages, so that nothing in them is copied by hand and goes stale:

* ``api/``: one page per module of :mod:`alkali_layers`, rendered by mkdocstrings from
  the numpy docstrings, with its navigation in ``api/SUMMARY.md``;
* ``reference/cli.md``: the ``--help`` text of every ``alkali-layers`` verb, taken from
  the argparse parser the command itself uses (``alkali_layers.cli.build_parser``);
* ``results/``: one page per study in ``runs/`` holding its committed README, tables
  (``*.md``) and figures (``*.png``); links between files of the repository are
  rewritten to site pages, links to files the site does not hold become plain text.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
from contextlib import redirect_stdout
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "alkali_layers"
#: Folders of runs/ never shown: task folders and raw per-step results.
SKIP_DIRS = {"tasks", "results", "__pycache__"}
#: How deep below runs/<study>/ tables and figures are collected.
MAX_DEPTH = 2

LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def api_pages() -> None:
    """One mkdocstrings page per module, plus the literate-nav summary."""
    nav = mkdocs_gen_files.Nav()
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        module = path.relative_to(ROOT).with_suffix("")
        parts = tuple(module.parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
            doc = Path("api", *parts, "index.md")
        else:
            doc = Path("api", *parts).with_suffix(".md")
        nav[parts] = doc.relative_to("api").as_posix()
        with mkdocs_gen_files.open(doc, "w") as fh:
            fh.write(f"# `{'.'.join(parts)}`\n\n::: {'.'.join(parts)}\n")
        mkdocs_gen_files.set_edit_path(doc, path.relative_to(ROOT))
    with mkdocs_gen_files.open("api/SUMMARY.md", "w") as fh:
        fh.writelines(nav.build_literate_nav())


def cli_page() -> None:
    """The help text of ``alkali-layers`` and of each verb, from its own parser."""
    os.environ["COLUMNS"] = "88"  # argparse wraps at the terminal width
    from alkali_layers.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    out = io.StringIO()
    out.write(
        "# Command line: `alkali-layers`\n\n"
        "Generated from the command's own argparse parser "
        "(`alkali_layers.cli.build_parser`) when the site is built, so it always "
        "matches the installed command. Every verb also answers `--help`.\n\n"
        "```text\n" + parser.format_help() + "```\n"
    )
    for verb, sub_parser in sub.choices.items():
        out.write(f"\n## `{verb}`\n\n```text\n{sub_parser.format_help()}```\n")
    with mkdocs_gen_files.open("reference/cli.md", "w") as fh:
        fh.write(out.getvalue())


def _site_target(target: str, source_dir: str, page_dir: str, shown: dict[str, str]):
    """Where a repository-relative link of a runs/ file points on the site (or None)."""
    path, _, anchor = target.partition("#")
    if not path:
        return target  # an anchor within the same file
    repo_path = posixpath.normpath(posixpath.join(source_dir, path))
    anchor = f"#{anchor}" if anchor else ""
    if repo_path.startswith("docs/"):
        return posixpath.relpath(repo_path[len("docs/") :], page_dir) + anchor
    if repo_path in shown:  # a page or a figure of the site
        return posixpath.relpath(shown[repo_path], page_dir) + anchor
    if repo_path == "README.md":
        return posixpath.relpath("index.md", page_dir)
    return None


def _rewrite(text: str, source_dir: str, page_dir: str, shown: dict[str, str]) -> str:
    """Demote headings one level and point links at site pages (or unlink them)."""

    def link(match: re.Match) -> str:
        bang, label, target = match.groups()
        if re.match(r"^[a-z]+:", target):
            return match.group(0)  # absolute URL
        site = _site_target(target, source_dir, page_dir, shown)
        if site is None:
            return (
                f"{label} (`{posixpath.normpath(posixpath.join(source_dir, target))}`)"
            )
        return f"{bang}[{label}]({site})"

    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            if line.startswith("#"):
                line = "#" + line
            line = LINK.sub(link, line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def _study_files(study: Path) -> tuple[list[Path], list[Path]]:
    """Markdown and PNG files of one study (README first), skipping task folders."""
    md, png = [], []
    for dirpath, dirnames, filenames in os.walk(study):
        here = Path(dirpath)
        depth = len(here.relative_to(study).parts)
        dirnames[:] = sorted(
            d for d in dirnames if d not in SKIP_DIRS and depth < MAX_DEPTH
        )
        for name in sorted(filenames):
            if name.endswith(".md"):
                md.append(here / name)
            elif name.endswith(".png"):
                png.append(here / name)
    md.sort(key=lambda p: (p.name != "README.md", len(p.parts), str(p)))
    return md, png


def results_pages() -> None:
    """One page per study of runs/, holding its committed README, tables, figures."""
    runs = ROOT / "runs"
    studies = sorted(
        p for p in runs.iterdir() if p.is_dir() and p.name not in SKIP_DIRS
    )
    nav = ["* [Overview](index.md)\n"]
    index = [
        "# Results in `runs/`\n\n",
        "Each page shows what one study committed to `runs/<study>/`: its README, "
        "tables and figures, read from the repository when the site is built "
        "(regenerate them with `alkali-layers table` / `plot` or the study's own "
        "script, then rebuild). Each study's database `results.db` holds every "
        "number with its settings and provenance.\n\n",
        "| study | what it holds |\n|---|---|\n",
    ]
    files = {study: _study_files(study) for study in studies}
    # repository path -> site path of every file the results pages hold
    shown: dict[str, str] = {}
    for study, (md, png) in files.items():
        for path in md:
            shown[path.relative_to(ROOT).as_posix()] = f"results/{study.name}.md"
        for path in png:
            rel = path.relative_to(ROOT).as_posix()
            shown[rel] = rel.replace("runs/", "results/", 1)
    for study in studies:
        md, png = files[study]
        if not md and not png:
            continue
        page = f"results/{study.name}.md"
        body = [f"# `runs/{study.name}`\n\n"]
        spec = study / "campaign.toml"
        if spec.exists():
            body.append(
                f"Campaign spec `runs/{study.name}/campaign.toml` "
                f"(`alkali-layers run runs/{study.name}`):\n\n"
                "```toml\n" + spec.read_text() + "```\n\n"
            )
        for path in md:
            rel = path.relative_to(ROOT).as_posix()
            body.append(f"## `{path.relative_to(study).as_posix()}`\n\n")
            body.append(
                _rewrite(path.read_text(), posixpath.dirname(rel), "results", shown)
            )
            body.append("\n")
        for path in png:
            rel = path.relative_to(ROOT).as_posix()
            with mkdocs_gen_files.open(shown[rel], "wb") as fh:
                fh.write(path.read_bytes())
            name = path.relative_to(study).as_posix()
            body.append(f"## Figure `{name}`\n\n![{name}]({study.name}/{name})\n\n")
        with mkdocs_gen_files.open(page, "w") as fh:
            fh.write("".join(body))
        nav.append(f"* [{study.name}]({study.name}.md)\n")
        tables = ", ".join(p.relative_to(study).as_posix() for p in md) or "-"
        index.append(
            f"| [{study.name}]({study.name}.md) | {tables}; {len(png)} figures |\n"
        )
    with mkdocs_gen_files.open("results/index.md", "w") as fh:
        fh.write("".join(index))
    with mkdocs_gen_files.open("results/SUMMARY.md", "w") as fh:
        fh.writelines(nav)


with redirect_stdout(io.StringIO()):
    api_pages()
    cli_page()
    results_pages()
