"""Makes interleaved-reasoning models: data with intermediate ground truths, prompt templates,
the paper's rewards (format, final accuracy, conditional intermediate), SFT warm start and RL.

Depends on `parsing` (the format reward is the parser's verdict); never on `server`.
"""
