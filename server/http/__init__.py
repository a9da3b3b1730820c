"""The HTTP layer, shared by every API: uvicorn's protocol with a header read timeout
(`connections`), request id, API key, limits and the access log (`middleware`), the body read
whole within a deadline and its JSON checked (`request_body`) and handed to the routes parsed
(`parsed_body`), errors as OpenAI's or Anthropic's bodies (`errors`), and admission and streams
that always clean up (`streams`)."""
