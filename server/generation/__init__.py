"""One request's generation, whatever the API: from a validated request to the prompt and the
engine's constraints (`preparation`, `prompting`), the run over the backend's pieces (`run`),
the per-token path from parser events to the encoders' ops (`shaping`), and reasoning budgets
(`budgets`, `reasoning_fields`, and `budget_logits`, the engine-side processor)."""
