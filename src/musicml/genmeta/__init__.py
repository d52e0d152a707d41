"""Generation metadata: analysis, quality score, feedback, fine-tuning export and a REST service.

Modules: :mod:`~musicml.genmeta.synth` (the embedded default snapshot),
:mod:`~musicml.genmeta.records` (the record contract and snapshot I/O),
:mod:`~musicml.genmeta.analysis` (librosa features), :mod:`~musicml.genmeta.quality`,
:mod:`~musicml.genmeta.feedback`, :mod:`~musicml.genmeta.export`,
:mod:`~musicml.genmeta.stats`, :mod:`~musicml.genmeta.db` (SQLAlchemy + Alembic),
:mod:`~musicml.genmeta.api` (the FastAPI app factory), :mod:`~musicml.genmeta.fetch`
and :mod:`~musicml.genmeta.maintenance` (snapshot, mark-used, prune).
"""
