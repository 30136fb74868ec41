"""trio's MLX backend: vision-language models through mlx-vlm (entry point ``mlx``)."""

__version__ = "0.1.0"
