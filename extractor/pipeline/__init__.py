"""The run: papers read (`read.py`), prompted (`prompt.py`), sent through the cache
(`cache.py`) and the per-record stages (`stages.py`) in a bounded window (`window.py`), and
written (`write.py`, `files.py`); the composition root (`compose.py`) wires them, the
runner (`runner.py`) is `extractor.run`, `batch.py` the Batch API path."""
