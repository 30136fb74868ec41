"""FastV: prune visual tokens inside the LLM's prefill by the attention the question pays them."""
