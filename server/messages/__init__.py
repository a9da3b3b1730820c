"""`POST /v1/messages`: the Anthropic Messages API over the same runs as the OpenAI routes.

protocol  request and response models, stream events (Anthropic's shapes)
signing   thinking-block signatures: HMAC over the thinking text with a server secret
history   input messages (text, thinking, tool_use, tool_result blocks) as turns
encoder   a run's ops as ordered content blocks and the streaming event sequence
errors    Anthropic-style error bodies for this route
router    the route
"""
