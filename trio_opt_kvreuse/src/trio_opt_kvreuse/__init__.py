"""KV-cache reuse across requests for trio's torch backend."""
