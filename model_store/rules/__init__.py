"""The rules a reply obeys: masks on the model's own distribution (what is not allowed gets probability 0, the rest is
renormalised and sampled as before) and where a reply ends. The engine applies them to a whole batch at once.

words.py (only real words) · monologue.py (one speech: its bans and its end) · reader.py (what a reader notices:
capitals, doubled words, the seed kept, punctuation, endings) · names.py (a speaker's names, from his own plays) ·
verse.py (lines that scan, by syllable position) · stop_rule.py (where free text ends).
"""
