"""Records which params.yaml keys a process reads (the tests' check of dvc.yaml's `params`).

Python imports ``sitecustomize`` at start-up from the first folder on ``sys.path`` that has one:
the `reproduced` fixture puts this folder on PYTHONPATH for its `dvc repro` and sets
MUSICML_PARAMS_TRACE to a folder. Every stage script then gets params.yaml from
``musicml.config.load_yaml`` as nested dicts that note each key read, and writes
``<script>.<pid>.json`` there at exit: ``[dotted key, kind]`` pairs, kind ``value`` (a leaf),
``section`` (a mapping) or ``iter`` (a mapping whose keys were all walked). Keys that are not in
the file are not noted: their absence is not something DVC can track. Without the variable,
nothing changes.
"""

import atexit
import json
import os
import sys
from pathlib import Path

_OUT = os.environ.get("MUSICML_PARAMS_TRACE")

if _OUT:
    _READS: set = set()

    def _join(path, key):
        return f"{path}.{key}" if path else str(key)

    class _Traced(dict):
        def __init__(self, data, path):
            super().__init__({k: _traced(v, _join(path, k)) for k, v in data.items()})
            self._path = path

        def _note(self, key):
            if dict.__contains__(self, key):
                value = dict.__getitem__(self, key)
                _READS.add((_join(self._path, key), "section" if isinstance(value, dict) else "value"))

        def _walked(self):
            _READS.add((self._path or "", "iter"))

        def __getitem__(self, key):
            self._note(key)
            return super().__getitem__(key)

        def get(self, key, default=None):
            self._note(key)
            return super().get(key, default)

        def __contains__(self, key):
            self._note(key)
            return super().__contains__(key)

        def __iter__(self):
            self._walked()
            return super().__iter__()

        def keys(self):
            self._walked()
            return super().keys()

        def items(self):
            self._walked()
            return super().items()

        def values(self):
            self._walked()
            return super().values()

    def _traced(value, path):
        return _Traced(value, path) if isinstance(value, dict) else value

    import musicml.config as _config

    _load_yaml = _config.load_yaml

    def load_yaml(path):
        data = _load_yaml(path)
        return _Traced(data, "") if Path(str(path)).name == "params.yaml" and isinstance(data, dict) else data

    _config.load_yaml = load_yaml

    @atexit.register
    def _write():
        if _READS:
            name = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "python"
            (Path(_OUT) / f"{name}.{os.getpid()}.json").write_text(json.dumps(sorted(_READS)))
