"""Where completions come from: the interface (`base`), vLLM in-process (`engine`) and another
OpenAI-compatible server in gateway mode (`upstream`)."""
