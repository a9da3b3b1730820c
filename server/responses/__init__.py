"""Function calling in the Responses API: its tool and item shapes, and the input items
(messages, reasoning, function calls and their outputs) as conversation turns. The route is
`server.responses_api`, its events `server.responses_events`."""
