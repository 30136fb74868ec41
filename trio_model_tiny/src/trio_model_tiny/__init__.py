"""trio-tiny: a small Qwen2.5-VL trained from scratch on synthetic scenes, and the synthetic benchmark."""
