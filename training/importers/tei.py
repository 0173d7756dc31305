"""TEI XML drama -> play-script text: Folger, EarlyPrint (EEBO-TCP) and DraCor editions.

Only the play's <body> is read: <head> becomes a heading, <stage> a direction in brackets, <sp> a speech
(its <speaker>, then one line per <l> and one per <p>). Cast lists, notes, apparatus readings, page and line
breaks, running heads and everything in <front>/<back> are skipped; of <choice> pairs the corrected or
regularised reading is kept (<corr>, <reg>, <expan>), and EarlyPrint's @reg spelling of a <w> is used.

Words: Folger puts every word, space and punctuation mark in its own element (<w>, <c>, <pc>); EarlyPrint has
<w> and <pc> with only layout whitespace between them; DraCor has plain text. All three read alike once
whitespace is collapsed and the space before a punctuation mark is removed.

Parsing is defused: no DTD entities (billion laughs), no external entities or DTDs, and a size limit.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from model_store.typography import plain_typography
from training.importers.cast import MAX_NAME, SpeakerNames, full_name, name_speakers, speaker_name

TEI_NS = "http://www.tei-c.org/ns/1.0"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
SKIP = frozenset(
    [
        "teiHeader",
        "front",
        "back",
        "castList",
        "note",
        "app",
        "rdg",
        "pb",
        "lb",
        "cb",
        "fw",
        "milestone",
        "figure",
        "gap",
        "listPerson",
        "particDesc",
        "standOff",
        "ref",
        "bibl",
        "interp",
    ]
)
PUNCTUATION_AFTER = re.compile(r"\s+([,.;:?!)\]])")
PUNCTUATION_BEFORE = re.compile(r"([(\[])\s+")


class NotTei(ValueError):
    """XML that cannot be read, or is not a TEI play."""


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse(data: bytes) -> ET.Element:
    """The document's root, parsed without entity expansion or external resources."""
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise NotTei(
            f"unsafe XML refused ({type(exc).__name__}: entities and external resources are not read)"
        ) from None
    except ET.ParseError as exc:
        raise NotTei(f"malformed XML ({exc})") from None


def flavour(root: ET.Element) -> str:
    """folger (words and spaces as elements), earlyprint (word elements only) or plain TEI such as DraCor."""
    tags = Counter(_local(e.tag) for e in root.iter())
    if tags["c"] > 0 and tags["w"] > 0:
        return "folger"
    if tags["w"] > 0:
        return "earlyprint"
    return "dracor"


def _text(element: ET.Element) -> str:
    """The reading text of an element: skipped elements left out, corrected readings kept, spaces normalised."""
    parts: list[str] = []

    def walk(e: ET.Element) -> None:
        name = _local(e.tag)
        if name in SKIP:
            return
        if name == "choice":  # <sic>/<corr>, <orig>/<reg>, <abbr>/<expan>: the corrected reading
            readings = [c for c in e if _local(c.tag) in ("corr", "reg", "expan", "lem")] or list(e)[:1]
            for reading in readings[:1]:
                walk(reading)
            return
        if name == "w" and e.get("reg") and len(e) == 0:
            parts.append(e.get("reg") or "")
        else:
            parts.append(e.text or "")
            for child in e:
                walk(child)
                parts.append(child.tail or "")
        if name in ("w", "pc", "c"):
            parts.append(" ")  # EarlyPrint separates words by layout only; the collapse below makes one space

    walk(element)
    joined = re.sub(r"\s+", " ", "".join(parts)).strip()
    joined = PUNCTUATION_BEFORE.sub(r"\1", PUNCTUATION_AFTER.sub(r"\1", joined))
    return plain_typography(joined)


def _name_from_who(who: str) -> str:
    """The name in a @who id, after the text's own id: "#eng000077-subtle" -> "Subtle", "A07009-horse-corser" ->
    "Horse Corser", "A04632-avocator1" -> "Avocator 1", "Barnardo_Ham" -> "Barnardo"."""
    who = re.sub(r"_[A-Z][A-Za-z]{1,4}$", "", who.lstrip("#"))  # Folger's play suffix: "Barnardo_Ham"
    parts = who.split("-")
    if len(parts) > 1 and re.search(r"\d", parts[0]):
        parts = parts[1:]
    return re.sub(r"([A-Za-z])(\d)", r"\1 \2", " ".join(parts).replace("_", " ")).title()


def cast_names(root: ET.Element) -> tuple[dict[str, str], str]:
    """The cast list's name for each id (<person>, <personGrp>, <role> or <castItem> in <castList> or
    <particDesc>: its <persName>, <name> or <role> text), and which list it was."""
    names: dict[str, str] = {}
    lists = []
    for cast in (e for e in root.iter() if _local(e.tag) in ("castList", "particDesc")):
        lists.append(_local(cast.tag))
        for e in cast.iter():
            who = e.get(XML_ID)
            if not who or _local(e.tag) not in ("person", "personGrp", "role", "castItem"):
                continue
            named = next((d for d in e.iter() if _local(d.tag) in ("persName", "name", "role")), None)
            text = _text_all(named).split(",")[0] if named is not None else ""  # "Barabas, the Jew": Barabas
            # DraCor fills some names with the id ("Gravedigger_Ham"): no name, the prefix stays as printed.
            if text and who not in names and "_" not in text:
                names[who] = text
    return names, f"the TEI cast list ({', '.join(dict.fromkeys(lists))})" if names else ""


@dataclass(frozen=True)
class Speech:
    printed: str  # the speech prefix as printed (or the name in its @who when it has no <speaker>)
    full: str  # the cast list's name for its @who, or ""
    lines: tuple[str, ...]


def _speech(sp: ET.Element, cast: dict[str, str]) -> Speech | None:
    speaker = ""
    lines: list[str] = []

    def walk(e: ET.Element) -> None:
        nonlocal speaker
        for child in e:
            name = _local(child.tag)
            if name in SKIP:
                continue
            if name == "speaker":
                speaker = _text(child)
            elif name == "stage":
                lines.append(f"[{_text(child).strip('[]() ')}]")
            elif name in ("l", "p", "ab"):
                text = _text(child)
                if text:
                    lines.append(text)
            else:  # lg, sp-level seg, q, div: their lines, in order
                walk(child)

    walk(sp)
    who = (sp.get("who") or "").split()
    printed = speaker_name(speaker or (_name_from_who(who[0]) if who else ""))
    if not printed or not any(not line.startswith("[") for line in lines):
        return None
    full = ""
    if len(who) == 1:  # a speech of one speaker: the cast list's name, or its id's when the prefix abbreviates it
        from_id = who[0].lstrip("#")
        full = cast.get(from_id) or _abbreviated(printed, speaker_name(_name_from_who(from_id)))
    full = speaker_name(full).upper()
    return Speech(printed[0].upper() + printed[1:], full if len(full) <= MAX_NAME else "", tuple(lines))


def tei_to_script(data: bytes) -> tuple[str, Counter[str], str, SpeakerNames]:
    """The play in play-script form, characters dropped by kind, the TEI flavour, and the full names its speech
    prefixes were written under (from the cast list its @who ids point into)."""
    root = parse(data)
    if _local(root.tag) not in ("TEI", "teiCorpus", "TEI.2"):
        raise NotTei(f"the root element is <{_local(root.tag)}>, not <TEI>")
    bodies = [e for e in root.iter() if _local(e.tag) == "body"]
    if not bodies:
        raise NotTei("a TEI document without a <body>")
    dropped: Counter[str] = Counter()
    for e in root.iter():
        if _local(e.tag) in ("teiHeader", "front", "back"):
            dropped[{"teiHeader": "header"}.get(_local(e.tag), _local(e.tag) + " matter")] += len(_text_all(e))
    for body in bodies:
        for e in body.iter():
            if _local(e.tag) in ("note", "app", "castList"):
                dropped["cast list" if _local(e.tag) == "castList" else "notes"] += len(_text_all(e))
    cast, source = cast_names(root)
    out: list[str | Speech] = []

    def walk(e: ET.Element) -> None:
        for child in e:
            name = _local(child.tag)
            if name in SKIP:
                continue
            if name == "sp":
                speech = _speech(child, cast)
                if speech:
                    out.append(speech)
                else:
                    dropped["speeches without a speaker"] += len(_text_all(child))
            elif name == "head":
                if text := _text(child):
                    out.append(text)
            elif name == "stage":
                if text := _text(child):
                    out.append(f"[{text.strip('[]() ')}]")
            elif name in ("l", "p", "lg", "ab", "list", "trailer"):
                dropped["text outside speeches"] += len(_text(child))
            else:
                walk(child)

    for body in bodies:
        walk(body)
    names = _speaker_names([s for s in out if isinstance(s, Speech)], source)
    blocks = [
        s if isinstance(s, str) else "\n".join([f"{s.full or names.full.get(s.printed, s.printed)}:", *s.lines])
        for s in out
    ]
    return ("\n\n".join(blocks) + "\n" if blocks else ""), dropped, flavour(root), names


def _abbreviated(printed: str, name: str) -> str:
    """name, when printed abbreviates it ("Good A." and "Good Angel", "Pol." and "Politic Wouldbe"), else "". A
    prefix of fewer words must shorten its last one: Folger's ids ("Barnardo_Ham") hold more than the name."""
    if not full_name(printed, [name]):
        return ""
    words, named = (text.upper().replace(".", " ").split() for text in (printed, name))
    return name if len(words) == len(named) or len(words[-1]) < len(named[len(words) - 1]) else ""


def _speaker_names(found: list[Speech], source: str) -> SpeakerNames:
    """Each prefix's full name (the one its speeches' @who gives most), the others by name_speakers' rules."""
    by_prefix: dict[str, Counter[str]] = {}
    for s in found:
        if s.full:
            by_prefix.setdefault(s.printed, Counter())[s.full] += 1
    names = name_speakers(Counter(s.printed for s in found), [], "")
    full = names.full | {p: fulls.most_common(1)[0][0] for p, fulls in by_prefix.items()}
    return SpeakerNames(source or ("the TEI @who ids" if by_prefix else ""), full, names.speeches)


def _text_all(e: ET.Element) -> str:
    return re.sub(r"\s+", " ", "".join(e.itertext())).strip()
