"""Structured output: what the engine's grammar forces, for tool calls and the final answer.

protocol  `response_format` on the wire (OpenAI's text / json_object / json_schema)
grammar   the constraint of a request: the `enforce_format` expression alone (a regex), or
          an xgrammar structural tag (vLLM's `structured_outputs.structural_tag`) that
          combines the format's segments, forced or constrained tool calls and a JSON final
          answer
final     the final answer checked against the schema (gateway mode, and the record)
"""
