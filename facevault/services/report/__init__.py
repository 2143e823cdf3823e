"""The evaluation report: `build` computes the document and its figures, `write` renders report.html,
report.md and report.json (`build.py`; pages in `html.py` and `markdown.py`, their words and tables in
`sections.py`, figures in `plots.py`)."""

from facevault.services.report.build import DEFAULT_SAMPLE, Report, build, write

__all__ = ["DEFAULT_SAMPLE", "Report", "build", "write"]
