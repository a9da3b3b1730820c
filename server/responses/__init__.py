"""`POST /v1/responses`: the Responses API.

route     the route
encoder   a run's ops as output items (reasoning, function calls, messages) and their events
protocol  function tools and input items; the request and output models are in `server.schemas`
history   input items (messages, reasoning, function calls and their outputs) as turns
"""
