"""ToMe: merge similar visual tokens inside the vision encoder.

The descriptor (``plugin``) and the merge schedule (``schedule``) import no framework; each
backend's implementation lives in the subpackage named for it (``torch``), installed by the
extra of that name.
"""
