"""ToMe: merge similar visual tokens inside a Qwen-VL vision encoder."""
