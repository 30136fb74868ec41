"""KV-cache reuse across requests: a later question about the same media skips its encoding and prefill.

The descriptor (``plugin``) imports no framework; each backend's implementation lives in the
subpackage named for it (``torch``, ``mlx``), installed by the extra of that name.
"""
