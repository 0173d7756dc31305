"""The limits a request is held to, wherever it comes from (the engine, bard-generate, the bot's options and
settings). Constants only, no numpy: the bot's settings and the health check import them without the engine."""

MAX_TEMPERATURE = 2.0  # the hottest sampling accepted (0 = greedy)
MAX_TOP_K = 1000  # top-k sampling among at most this many characters (0 = off)
MAX_CHARS = 100_000  # the longest continuation one generation writes (the bot asks for far less: bot/limits.py)
HISTORY_CHARS = 3000  # of an exchange before a monologue, the model is fed this much (its end)
MAX_TOPIC = 8.0  # the strongest hold on a speech's subject accepted (0 = none: the text of before)
# The bot's and bard-generate's, by measurement (docs/topic.md): from 0.5 a subject word in every noun's place
# where one fits, and the subject adapter at 0.5: the topic rises from 0.08 to 0.56, word fluency stays at 0.90.
DEFAULT_TOPIC = 0.5
