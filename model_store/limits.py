"""The limits a request is held to, wherever it comes from (the engine, bard-generate, the bot's options and
settings). Constants only, no numpy: the bot's settings and the health check import them without the engine."""

MAX_TEMPERATURE = 2.0  # the hottest sampling accepted (0 = greedy)
HISTORY_CHARS = 3000  # of an exchange before a monologue, the model is fed this much (its end)
