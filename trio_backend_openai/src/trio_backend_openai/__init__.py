"""trio's remote backend: OpenAI-compatible chat-completions servers run the model; trio keeps the cameras."""
