"""Limits that settings, option parsing and replies share: plain numbers, importing nothing, so none of them
imports another for a constant."""

MESSAGE_LIMIT = 2000  # Discord's limit on a message's content
MAX_LENGTH = 1500  # longest continuation one may ask for (the same bound as the BARD_LENGTH setting)
MAX_SEED_CHARS = 500  # a longer seed would crowd out the monologue it asks for
