"""`POST /v1/chat/completions`: the route (`route`); its wire models are in `server.schemas`."""
