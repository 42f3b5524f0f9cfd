"""`tunecard index`, read top to bottom: check the options, read and split the corpus into passages, embed them
(dense) and/or index their words (bm25), and write the index folder (built as `<output>.partial`, renamed when
complete) that `--retrieval.index` opens."""

from __future__ import annotations

from pathlib import Path

from tunecard.config import IndexConfig


def index(config: IndexConfig) -> dict:
    """Build a passage index folder from a corpus (an IndexConfig or a dict of its fields); returns its manifest."""
    from tunecard.errors import raise_all
    from tunecard.retrieval import passages
    from tunecard.runs import directory

    config = config if isinstance(config, IndexConfig) else IndexConfig(**config)
    raise_all(config.problems())
    with directory.run_directory(Path(config.output), config.overwrite) as workdir:
        manifest = passages.build_index(config, workdir)
    print(f"tunecard index: {manifest['passages']} passages ({manifest['kind']}"
          f"{', ' + manifest['faiss_index'] if 'faiss_index' in manifest else ''}) in {manifest['build_seconds']} s, "
          f"{manifest['passages_per_second']} passages/s; written to {config.output}")
    return manifest
