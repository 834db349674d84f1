"""Engines that drive the per-record stages (`extractor.pipeline.stages`) beyond one process.

The default engine is the single-process `Pipeline` (through `extractor.api`); `ray` runs
the same stages as a Ray Data pipeline.
"""
