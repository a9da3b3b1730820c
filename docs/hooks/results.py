"""mkdocs hook: the measured results (`results/**/*.png`, `*.json`) as files of the site.

mkdocs serves only what is under `docs/`; the plots and result files stay where the benchmarks
write them and are added to the build under the same paths, so a page links
`results/training-curves.png` and the build checks that the file exists.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results"
SUFFIXES = {".png", ".json"}
# Scratch folders the benchmarks write beside their results (logs), not results themselves.
SKIP_PARTS = {"tmp"}


def result_files() -> list[Path]:
    """The files of `results/` the site carries, in a stable order."""
    return sorted(
        path
        for path in RESULTS.rglob("*")
        if path.is_file()
        and path.suffix in SUFFIXES
        and not SKIP_PARTS.intersection(path.relative_to(RESULTS).parts)
        and not any(part.endswith("-logs") or part == "logs" for part in path.parts)
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path in result_files():
        uri = path.relative_to(REPO).as_posix()
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
