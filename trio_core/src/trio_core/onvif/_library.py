"""onvif-zeep-async, imported without what its import does to the process's logging.

``import onvif`` calls ``logging.basicConfig(level=logging.INFO)``: a handler on the root
logger, after which every library's INFO records (httpx logs each request) would print on
trio's stderr. The root logger is put back as it was.
"""

import logging

_root = logging.getLogger()
_handlers, _level = list(_root.handlers), _root.level
try:
    import onvif
    import onvif.util
finally:
    _root.handlers[:] = _handlers
    _root.setLevel(_level)

__all__ = ["onvif"]
