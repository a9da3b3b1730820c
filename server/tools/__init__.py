"""Function calling: the tool definitions a request brings, how they are shown to the model,
how its calls are read back from its output and sent to the client, and the replay of earlier
calls and their results in the prompt.

    protocol  the wire models (OpenAI's tool and tool-call shapes, our error extension)
    spec      a request's tools and tool_choice, validated (400s that name the field)
    prompt    the tools block of the system message; history with calls and results as text
    calls     one choice's calls as the parser finds them: ids, name checks, the ops they make
"""
