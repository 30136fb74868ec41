"""FastV: prune visual tokens inside the LLM's prefill by the attention the question pays them.

The descriptor (``plugin``) imports no framework; each backend's implementation lives in the
subpackage named for it (``torch``), installed by the extra of that name.
"""
