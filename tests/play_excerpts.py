"""Small excerpts of plays, written for the tests: a second play in the play-script format, and plays as people
have them (Project Gutenberg conventions, TEI flavours) for the importers and the preview; no real play text."""

# A play-script text with other speakers than conftest's SCRIPT (a second bard, fine-tuning on a new play).
FAUSTUS = """FAUSTUS:
Was this the face that launch'd a thousand ships,
And burnt the topless towers of Ilium?
Sweet Helen, make me immortal with a kiss.

MEPHISTOPHELES:
Why, this is hell, nor am I out of it.

"""

MODERN_HEADER = (
    "The Project Gutenberg EBook of The Jew of Malta, by Christopher Marlowe\r\n\r\n"
    "This eBook is for the use of anyone anywhere at no cost.\r\n\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK THE JEW OF MALTA ***\r\n\r\n"
)
MODERN_FOOTER = (
    "\r\n\r\nEnd of the Project Gutenberg EBook of The Jew of Malta\r\n\r\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK THE JEW OF MALTA ***\r\n\r\n"
    "Updated editions will replace the previous one.\r\n"
)
# Inline "NAME. speech" in capitals, indented speech and continuation lines, directions indented deeper,
# footnote markers in the verse, an editor's introduction and a prologue before, a footnotes section after.
INLINE_CAPS = (
    "INTRODUCTION\r\n\r\nMarlowe was born at Canterbury in 1564, the son of a shoemaker. He went to\r\n"
    "Cambridge, and wrote for the stage.\r\n\r\n"
    "          Enter MACHIAVEL.\r\n\r\n"
    "     MACHIAVEL. Albeit the world think Machiavel is dead,\r\n"
    "     Yet was his soul but flown beyond the Alps.\r\n"
    "          [Exit.]\r\n\r\n"
    "ACT I.\r\n\r\n"
    "          BARABAS discovered in his counting-house.\r\n\r\n"
    "     BARABAS. So that of thus much that return was made; [17]\r\n"
    "     And of the third part of the Persian ships\r\n\r\n"
    "          Enter a MERCHANT.\r\n\r\n"
    "                         How now!\r\n\r\n"
    "     MERCHANT. Barabas, thy ships are safe,\r\n"
    "     Riding in Malta-road.\r\n\r\n"
    "     BARABAS. The ships are safe thou say'st?\r\n\r\n"
    "     MERCHANT. They are.\r\n\r\n"
    "     BARABAS [aside]. Why, then, go bid them come ashore.\r\n"
    "          [Exit MERCHANT.]\r\n\r\n"
    "     FIRST JEW. Tush, tell not me.\r\n\r\n"
    "     BARABAS. Farewell.\r\n\r\n"
    "FOOTNOTES:\r\n\r\n[17] Samnites: old ed. reads otherwise.\r\n"
)
SMALL_PRINT_HEADER = (
    "**The Project Gutenberg Etext of Hamlet**\n\nPlease take a look at the important information.\n\n"
    "***START**THE SMALL PRINT!**FOR PUBLIC DOMAIN ETEXTS**START***\nWhy is this statement here?\n"
    "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n"
)
# Names alone on their line: capitals, then abbreviated mixed case; "Swear." alone after a speaker is speech.
ALONE_CAPS = (
    "HAMLET\n\nACT I\n\nSCENE V. Another part of the platform.\n\n_Enter Ghost and Hamlet._\n\n"
    "HAMLET.\nWhither wilt thou lead me? Speak, I'll go no further.\n\n"
    "GHOST.\nMark me.\n\nHAMLET.\nI will.\n\nGHOST.\nSwear.\n\n"
    "HAMLET.\nRest, rest, perturbed spirit. _They swear._\n\nGHOST.\n[Beneath.] Swear.\n\n"
    "End of Project Gutenberg Etext of Hamlet\n"
)
ALONE_MIXED = (
    "Ham.\nWhither wilt thou lead me?\n\nGhost.\nMark me.\n\nHam.\nI will.\n\n"
    "Ghost.\nSwear.\n\nHam.\nRest, rest, perturbed spirit.\n\nGhost.\nSwear.\n\nHam.\nSo, gentlemen.\n"
)
# Abbreviated names with a colon, Ben Jonson style.
COLON_ABBREVIATED = (
    "VOLPONE; OR, THE FOX\n\nACT 1. SCENE 1.1.\n\n[A ROOM IN VOLPONE'S HOUSE.]\n\n"
    "VOLP: Good morning to the day; and next, my gold!\n  Open the shrine, that I may see my saint.\n\n"
    "MOS: And what he will, sir.\n\nVOLP: True, my beloved Mosca.\n\nMOS: No, sir, nor devour\n"
    "  Soft prodigals.\n\nVOLP: Hold thee, Mosca.\n"
)
NOVEL = (
    "The Project Gutenberg EBook of A Novel\n\n*** START OF THE PROJECT GUTENBERG EBOOK A NOVEL ***\n\n"
    "CHAPTER I.\n\nIt was a truth universally acknowledged, that a single man in possession\n"
    'of a good fortune must be in want of a wife.\n\n"My dear," said his lady to him one day, '
    '"have you heard?"\n\nMr. Bennet replied that he had not.\n\n'
    "*** END OF THE PROJECT GUTENBERG EBOOK A NOVEL ***\n"
)

FOLGER = """<?xml version="1.0" encoding="UTF-8"?>
<TEI xmlns="http://www.tei-c.org/ns/1.0"><teiHeader><fileDesc><titleStmt><title>Hamlet</title></titleStmt>
</fileDesc></teiHeader><text><front><div type="castList"><castList><castItem><role>HAMLET</role></castItem>
</castList></div></front><body><div type="act" n="1"><head><w>ACT</w><c> </c><w>1</w></head>
<div type="scene" n="1"><stage type="entrance"><w>Enter</w><c> </c><w>Barnardo</w><c> </c><w>and</w><c> </c>
<w>Francisco</w><pc>.</pc></stage>
<sp who="#Barnardo_Ham"><speaker><w>BARNARDO</w></speaker><l><w>Who's</w><c> </c><w>there</w><pc>?</pc></l></sp>
<sp who="#Francisco_Ham"><speaker><w>FRANCISCO</w></speaker><l><w>Nay</w><pc>,</pc><c> </c><w>answer</w><c> </c>
<w>me</w><pc>.</pc><c> </c><w>Stand</w><c> </c><w>and</w><c> </c><w>unfold</w><c> </c><w>yourself</w><pc>.</pc></l>
<note>unfold: reveal</note></sp>
<sp who="#Barnardo_Ham"><speaker><w>BARNARDO</w></speaker><l><w>Long</w><c> </c><w>live</w><c> </c><w>the</w>
<c> </c><w>King</w><pc>!</pc></l><milestone unit="ftln" n="3"/></sp>
</div></div></body></text></TEI>
"""
EARLYPRINT = """<?xml version="1.0" encoding="UTF-8"?>
<TEI xmlns="http://www.tei-c.org/ns/1.0"><teiHeader><fileDesc><titleStmt><title>Cupid's Revenge</title>
</titleStmt></fileDesc></teiHeader><text><body><div type="act">
 <head><w>Actus</w> <w>primus</w> <pc>.</pc></head>
 <sp who="A06177-nisus">
  <speaker><w lemma="Nisus">Nisus</w> <pc>.</pc></speaker>
  <p>
   <w lemma="why">Why</w>
   <pc>,</pc>
   <w lemma="do">did</w>
   <w lemma="your">your</w>
   <w lemma="lordship">Lordship</w>
   <w lemma="sleep" reg="sleep">sleepe</w>
   <pc>?</pc>
  </p>
 </sp>
 <pb n="2"/>
 <sp who="A06177-dorialus">
  <speaker><w>Dor.</w></speaker>
  <l><w>I</w> <w>marvel</w> <w>what</w> <w>the</w> <choice><sic>Dnke</sic><corr>Duke</corr></choice>
   <w>meant</w> <pc>.</pc></l>
 </sp>
</div></body></text></TEI>
"""
DRACOR = """<TEI xmlns="http://www.tei-c.org/ns/1.0" xml:id="eng000076"><teiHeader><fileDesc><titleStmt>
<title>Volpone</title></titleStmt></fileDesc></teiHeader><text><front><div type="dedication">
<p>To the most noble and most equal sisters.</p></div></front><body><div type="act"><head>Act I. Scene I.</head>
<stage>VOLPONE, MOSCA.</stage>
<sp who="#volpone"><l>Good morning to the day; and, next, my gold:</l><l>Open the shrine.</l></sp>
<sp who="#mosca"><speaker>MOS.</speaker><l>And what he will, sir.</l></sp>
<sp who="#volpone"><speaker>VOLP.</speaker><lg><l>True, my beloved <choice><orig>MOSCA</orig>
<reg>Mosca</reg></choice>. Yet I glory</l><pb n="451"/><l>More in the cunning purchase<note>a gloss</note>
of my wealth.</l></lg><stage>He kisses the gold.</stage></sp>
</div></body><back><div><p>Finis.</p></div></back></text></TEI>
"""

# A cast list ("Persons Represented", mixed case) over speeches whose prefixes are abbreviated, alone on a line;
# Hamlet's printed two ways, the King not in the list under that name.
PERSONS_REPRESENTED = """HAMLET, PRINCE OF DENMARK

PERSONS REPRESENTED.

Claudius, King of Denmark.
Hamlet, Son to the former, and Nephew to the present King.
Polonius, Lord Chamberlain.
Horatio, Friend to Hamlet.
Marcellus, an Officer.

ACT I.

Scene II. A room of state in the Castle.

Hor.
Hail to your lordship!

Ham.
I am glad to see you well:
Horatio, or I do forget myself.

Mar.
My good lord.

King.
Good night, my lords.

Hor.
The same, my lord, and your poor servant ever.

Haml.
Sir, my good friend; I'll change that name with you.

Mar.
My lord!

King.
Farewell.

Hor.
My lord, I came to see your father's funeral.

Haml.
I pray thee do not mock me, fellow-student.

Mar.
Upon the platform where we watch'd.

King.
Our son shall win.

Ham.
Indeed, indeed, sirs, but this troubles me.

Haml.
Hold you the watch to-night?

Ham.
Then saw you not his face?
"""
# A cast list in capitals ("The Persons of the Play") over inline prefixes, two of them of more than one word;
# COR. could be CORVINO or CORBACCIO, and NANO is not in the list.
PERSONS_OF_THE_PLAY = """THE PERSONS OF THE PLAY

VOLPONE, a Magnifico.
MOSCA, his Parasite.
CORVINO, a Merchant.
CORBACCIO, an old Gentleman.
SIR POLITICK WOULD-BE, a Knight.
PEREGRINE, a Gentleman Traveller.

SCENE, VENICE.

ACT 1. SCENE 1.

VOLP. Good morning to the day; and next, my gold!

MOS. And what he will, sir.

VOLP. Hail the world's soul, and mine!

COR. Signior Volpone!

MOS. He sleeps, sir.

NANO. Now, room for fresh gamesters.

SIR P. Sir, to a wise man, all the world's his soil.

PER. A knight, sir?

SIR POL. I hope you need not fear me.

COR. Is he asleep?

NANO. Fools, they are the only nation.

PER. Good sir, be patient.

SIR P. Farewell, sir.
"""
