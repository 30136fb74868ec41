"""trio's PyTorch + transformers backend.

Importing this package is light; torch and transformers load when a model does.
"""
