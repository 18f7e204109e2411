"""Forms carried by the mail itself: typed in a plain body, pasted into an Outlook reply above the
quoted thread, or attached under a long non-ASCII file name split by RFC 2231 continuations."""

from __future__ import annotations

import base64
import email
import email.policy
import random
import urllib.parse
from email.message import EmailMessage

from tests.corpus.layouts import MULTILINE, Item, colon, lines_of, mail


def body_text(items: list[Item], ticks: str) -> str:
    """The form typed in a plain-text body: "Label : value", texts under their label, headings alone."""
    out = ["Bonjour,", "", "Voici notre proposition de projet collectif.", "", "PROPOSITION DE PROJET COLLECTIF", ""]
    for item in items:
        if item.kind != "field":
            out += ["", item.text]
            continue
        lines = lines_of(item.key, item.value, ticks)
        if item.key in MULTILINE:
            out.append(colon(item))
            for j, line in enumerate(lines):
                if j and not line.startswith("- "):
                    out.append("")
                out.append(line)
        else:
            out.append(f"{item.text} : {', '.join(lines)}".rstrip())
    out += ["", "Bien cordialement,", "", "Claire Dupuis", "Direction des ressources humaines"]
    return "\n".join(out) + "\n"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


QUOTED_THREAD = """<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>De&nbsp;:</b> Stages INET &lt;stages.inet@cnfpt.fr&gt;<br>
<b>Envoyé&nbsp;:</b> lundi 2 juin 2025 09:12<br>
<b>À&nbsp;:</b> Service RH &lt;rh@{domain}&gt;<br>
<b>Objet&nbsp;:</b> Appel à propositions de projets collectifs 2025-2026</p></div>
<p class="MsoNormal">Madame, Monsieur,</p>
<p class="MsoNormal">Merci de nous retourner la fiche en précisant&nbsp;:</p>
<table class="MsoTableGrid" border="1"><tr><td><p class="MsoNormal">Nom de la collectivité&nbsp;:</p></td>
<td><p class="MsoNormal">&nbsp;</p></td></tr><tr><td><p class="MsoNormal">Nom&nbsp;:</p></td>
<td><p class="MsoNormal">&nbsp;</p></td></tr><tr><td><p class="MsoNormal">Fonction&nbsp;:</p></td>
<td><p class="MsoNormal">DGS ou DGA</p></td></tr></table>
<p class="MsoNormal">Intitulé du projet collectif&nbsp;: à compléter</p>
<p class="MsoNormal">Bien cordialement,<br>Le service des stages</p>
"""


def outlook_reply(i: int, items: list[Item], ticks: str, domain: str, rng: random.Random) -> EmailMessage:
    """An Outlook HTML reply: the form pasted from Word (MsoNormal paragraphs and a table), then the
    quoted call for proposals, which prints some labels of the form too."""
    parts = ['<html xmlns:o="urn:schemas-microsoft-com:office:office"><body lang="FR">',
             '<div class="WordSection1"><p class="MsoNormal">Bonjour,<o:p></o:p></p>',
             '<p class="MsoNormal">Vous trouverez ci-dessous notre proposition.<o:p></o:p></p>',
             '<p class="MsoNormal"><b>PROPOSITION DE PROJET COLLECTIF</b><o:p></o:p></p>']
    table_open = False
    for item in items:
        if item.kind != "field":
            if table_open:
                parts.append("</table>")
                table_open = False
            parts.append(f'<p class="MsoNormal"><b>{_esc(item.text)}</b><o:p></o:p></p>')
            continue
        if not table_open:
            parts.append('<table class="MsoTableGrid" border="1" cellspacing="0" cellpadding="0">')
            table_open = True
        value = "".join(f'<p class="MsoNormal">{_esc(x)}<o:p></o:p></p>'
                        for x in lines_of(item.key, item.value, ticks)) or '<p class="MsoNormal">&nbsp;</p>'
        label = _esc(colon(item)).replace(" :", "&nbsp;:")
        parts.append(f'<tr><td width="200" valign="top"><p class="MsoNormal">{label}<o:p></o:p></p></td>'
                     f'<td width="400" valign="top">{value}</td></tr>')
    if table_open:
        parts.append("</table>")
    parts.append('<p class="MsoNormal">Cordialement,<o:p></o:p></p><p class="MsoNormal">Claire Dupuis</p>')
    parts.append(QUOTED_THREAD.format(domain=domain))
    parts.append("</div></body></html>")
    message = mail(i, "RE: Appel à propositions de projets collectifs 2025-2026", "")
    message.set_content("\n".join(parts), subtype="html")
    return message


def rfc2231_attachment(message: EmailMessage, data: bytes, filename: str) -> EmailMessage:
    """Attach `data` with its name split into RFC 2231 continuations (filename*0*=…; filename*1*=…),
    under a generic content type, as some mail clients send long accented names."""
    chunks: list[str] = [""]
    for char in filename:  # split between characters, never inside one's %XX escapes
        piece = urllib.parse.quote(char.encode("utf-8"), safe="")
        if len(chunks[-1]) + len(piece) > 40:
            chunks.append("")
        chunks[-1] += piece
    params = ";\r\n ".join(f"filename*{n}*={'utf-8' + chr(39) * 2 if n == 0 else ''}{chunk}"
                           for n, chunk in enumerate(chunks))
    names = ";\r\n ".join(f"name*{n}*={'utf-8' + chr(39) * 2 if n == 0 else ''}{chunk}"
                          for n, chunk in enumerate(chunks))
    head = bytes(message).split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    head = b"\n".join(x for x in head.split(b"\n") if not x.lower().startswith((b"content-", b"mime-version")))
    encoded = base64.encodebytes(data).decode("ascii")
    raw = (head.decode("utf-8") + "\nMIME-Version: 1.0\n"
           'Content-Type: multipart/mixed; boundary="==corpus=="\n\n'
           "--==corpus==\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
           "Bonjour,\n\nCi-joint notre fiche.\n\nCordialement,\n\n"
           f"--==corpus==\nContent-Type: application/octet-stream;\n {names}\n"
           f"Content-Transfer-Encoding: base64\nContent-Disposition: attachment;\n {params}\n\n"
           f"{encoded}\n--==corpus==--\n")
    return email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.default)
