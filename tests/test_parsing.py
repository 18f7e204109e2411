"""Parsing a mail with its attachments' base64 kept out of email's parser gives what email's parser gives."""

from __future__ import annotations

import base64
import email
import email.policy
import random
from email.message import EmailMessage
from pathlib import Path
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.mail import parsing
from mailflow.mail.parsing import HeaderClasses, detached_body, detached_chunks, parse
from mailflow.mail.spool import SPOOL_BYTES, SpooledMail, opened
from mailflow.pipeline.archive import Archive, content_hash
from mailflow.pipeline.extract.mime import collect, sniff


def leaves(raw: bytes) -> list[tuple[str, bytes]]:
    """Each leaf's type and decoded bytes, as mailflow reads them; a detached leaf decoded in pieces (as
    the archive reads it, here in small pieces that cut its lines anywhere) gives the same bytes. A big
    mail fetched into a file, scanned in windows of any size (cutting runs and lines), reads the same."""
    found = read_leaves(parse(raw))
    for window in (64, 8192, 20_000):
        spooled = SpooledMail.written([raw[:1000], raw[1000:]])
        with patch.object(parsing, "WINDOW_BYTES", window), opened(spooled):
            assert read_leaves(parse(spooled)) == found, f"windows of {window} bytes"
    return found


def read_leaves(message: EmailMessage) -> list[tuple[str, bytes]]:
    found = []
    for part in message.walk():
        if not part.is_multipart():
            streamed = [b"".join(chunks) for size in (97, 1000, 4096) if (chunks := detached_chunks(part, size))]
            data = detached_body(part)
            assert all(piece == data for piece in streamed)
            found.append((part.get_content_type(), data if data is not None else part.get_payload(decode=True)))
    return found


def reference(raw: bytes) -> list[tuple[str, bytes]]:
    """The same, by email's own parser on the whole mail."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return [(p.get_content_type(), p.get_payload(decode=True)) for p in message.walk() if not p.is_multipart()]


def base64_lines(data: bytes, width: int, newline: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"".join(text[i:i + width] + newline for i in range(0, len(text), width))


def mail(parts: list[tuple[str, str, bytes]], newline: bytes = b"\r\n", *, preamble: bytes = b"",
         epilogue: bytes = b"") -> bytes:
    """A multipart mail written by hand, so that line widths and encodings are exactly as given;
    `preamble` and `epilogue` (whole lines) go before the first part and after the last."""
    head = [b"From: Mairie <rh@ville.example.fr>", b"To: stages@inet.example.fr", b"Subject: Proposition",
            b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="SEP"', b""]
    body = []
    for content_type, encoding, payload in parts:
        body += [b"--SEP", f"Content-Type: {content_type}".encode(),
                 f"Content-Transfer-Encoding: {encoding}".encode(), b"", payload]
    body.append(b"--SEP--")
    return newline.join(head) + newline + preamble + newline.join(body) + newline + epilogue


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(min_value=0, max_value=40_000),
    width=st.sampled_from([40, 41, 57, 64, 72, 76, 77, 100]),
    newline=st.sampled_from([b"\r\n", b"\n"]),
    kind=st.sampled_from(["application/pdf", "image/jpeg", "text/plain; charset=utf-8", "message/rfc822"]),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_every_leaf_reads_as_emails_own_parser_reads_it(size: int, width: int, newline: bytes, kind: str,
                                                        seed: int) -> None:
    """Attachments of any size, line width and line ending, text or binary: the same decoded bytes."""
    data = random.Random(seed).randbytes(size) if not kind.startswith("text") else (
        "Texte accentué, ligne après ligne.\n" * (size // 36)).encode()
    encoded = base64_lines(data, width, newline)
    raw = mail([("text/plain; charset=utf-8", "8bit", b"Bonjour,\nveuillez trouver la fiche."),
                (kind, "base64", encoded.rstrip(newline))], newline)
    assert leaves(raw) == reference(raw)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    stray=st.sampled_from([None, "é", "QUI=", "", "ab cd", "==", "QUJD" * 2500]),  # the last: longer than a window
    encoding=st.sampled_from(["8bit", "quoted-printable", "base64"]),
    around=st.booleans(),
    newline=st.sampled_from([b"\r\n", b"\n"]),
)
def test_text_around_blobs_and_odd_lines_read_as_emails_own_parser_reads_them(
    seed: int, stray: str | None, encoding: str, around: bool, newline: bytes,
) -> None:
    """Accented 8-bit text around a pasted blob, a blob before the first part and after the last, an
    attachment with one odd line (accent, early padding, blank, spaces, one longer than a window of the
    scan) somewhere in its base64: every leaf, the preamble and the epilogue as email's parser gives them."""
    rng = random.Random(seed)
    blob = base64_lines(rng.randbytes(6000), 64, newline)
    text = "Voilà la clé :".encode() + newline + blob + "Merci, à bientôt".encode()
    if encoding == "quoted-printable":
        text = text.replace("à".encode(), b"=C3=A0").replace("é".encode(), b"=C3=A9")
    elif encoding == "base64":
        text = base64_lines(text, 76, newline).rstrip(newline)
    lines = base64_lines(rng.randbytes(9000), 76, newline).splitlines(keepends=True)
    if stray is not None:
        lines.insert(rng.randrange(len(lines)), stray.encode() + newline)
    raw = mail([("text/plain; charset=utf-8", encoding, text),
                ("application/pdf", "base64", b"".join(lines).rstrip(newline))], newline,
               preamble=blob if around else b"", epilogue=blob if around else b"")
    assert leaves(raw) == reference(raw)
    theirs = email.message_from_bytes(raw, policy=email.policy.default)
    with patch.object(parsing, "WINDOW_BYTES", 8192):
        for source in (raw, SpooledMail.written([raw])):
            with opened(source):
                ours = parse(source)
                assert (ours.preamble, ours.epilogue) == (theirs.preamble, theirs.epilogue)
                assert ours.get_body(("plain",)).get_content() == theirs.get_body(("plain",)).get_content()


def test_a_long_block_of_base64_letters_in_a_text_body_stays_that_text() -> None:
    """A key or a pasted blob in a plain-text body looks like base64 lines: the text is given back whole,
    accents included (8-bit text)."""
    armour = base64_lines(random.Random(3).randbytes(9000), 64, b"\n").decode()
    text = f"Voilà la clé :\n{armour}Merci, à bientôt"
    raw = mail([("text/plain; charset=utf-8", "8bit", text.encode())], b"\n")
    assert leaves(raw) == reference(raw)
    assert leaves(raw)[0][1].decode() == text
    assert parse(raw).get_body(("plain",)).get_content() == text


def test_a_sender_cannot_forge_the_marker_of_a_detached_body() -> None:
    """Text that imitates the parser's marker is read as text; the attachment is unchanged."""
    scan = random.Random(5).randbytes(20_000)
    forged = "mailflow-detached-0000000000000000-0\nmailflow-detached-ffffffffffffffff-1\n"
    raw = mail([("text/plain; charset=utf-8", "8bit", forged.encode()),
                ("image/jpeg", "base64", base64_lines(scan, 76, b"\r\n"))])
    assert leaves(raw) == reference(raw)
    assert leaves(raw)[0][1].decode() == forged


def test_a_body_that_does_not_decode_as_it_stands_is_read_as_emails_parser_reads_it() -> None:
    """Padding in the middle of an attachment's base64 (a broken or hostile sender): no error, and
    the bytes email's own lenient decoder gives."""
    lines = base64_lines(random.Random(4).randbytes(12_000), 76, b"\r\n").splitlines(keepends=True)
    broken = b"QUI=\r\n" + b"".join(lines)
    raw = mail([("text/plain", "7bit", b"Bonjour"), ("application/pdf", "base64", broken)])
    assert leaves(raw) == reference(raw)


def test_attachments_are_collected_from_the_detached_bodies() -> None:
    """What the archive and the readers receive: the attachment's own bytes and name."""
    document = random.Random(9).randbytes(300_000)
    raw = mail([("text/plain", "7bit", b"Bonjour"),
                ('application/pdf; name="fiche.pdf"', "base64", base64_lines(document, 76, b"\r\n"))])
    attachments, _ = collect(parse(raw))
    assert [(a.filename, a.data) for a in attachments] == [("fiche.pdf", document)]


def test_an_attachment_is_archived_in_pieces_without_being_decoded_whole(tmp_path: Path) -> None:
    """A scan only archived is told apart by its first bytes and written to the archive as it is decoded:
    the same file and hash as the whole bytes give, and never the whole in memory."""
    scan = b"\xff\xd8\xff\xe0" + random.Random(5).randbytes(3_000_000)
    raw = mail([("text/plain", "7bit", b"Bonjour"),
                ('image/jpeg; name="annexe.jpg"', "base64", base64_lines(scan, 76, b"\r\n"))])
    (attachment,), _ = collect(parse(raw))
    assert sniff(attachment) is None and attachment.head == scan[:4096]
    archive = Archive(tmp_path)
    digest, size = archive.store_chunks(attachment.chunks())
    assert "data" not in attachment.__dict__  # decoded only in pieces
    assert (digest, size) == (content_hash(scan), len(scan)) and archive.load(digest) == scan
    assert archive.store_chunks(iter([scan[:10], scan[10:]])) == (digest, size)  # stored once
    logo = b"\x89PNG" + random.Random(6).randbytes(5000)  # small: stored whole, and once
    assert archive.store_chunks(iter([logo])) == archive.store_chunks(iter([logo[:9], logo[9:]])) == (
        content_hash(logo), len(logo))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted([digest, content_hash(logo)])


def test_a_big_mail_is_read_back_from_the_archive_in_place(tmp_path: Path) -> None:
    """Resuming or reprocessing a big archived mail parses it from its archived file in pieces, without a
    copy, its attachment kept out of the parser and read from the file when asked for; a small one is read
    into memory. Both read as email's parser reads the bytes themselves."""
    scan = random.Random(12).randbytes(SPOOL_BYTES)
    big = mail([("text/plain", "7bit", b"Bonjour"), ('image/jpeg; name="plans.jpg"', "base64",
                                                   base64_lines(scan, 76, b"\r\n"))])
    small = mail([("text/plain", "7bit", b"Bonjour")])
    archive = Archive(tmp_path)
    stored = [archive.store(big), archive.store(small)]
    spooled, whole = (archive.mail(digest) for digest in stored)
    assert isinstance(spooled, SpooledMail) and len(spooled) == len(big) and whole == small
    with opened(spooled):
        parsed = parse(spooled)
        (scanned,) = (part for part in parsed.walk() if part.get_content_type() == "image/jpeg")
        assert detached_chunks(scanned) is not None
        assert read_leaves(parsed) == reference(big) and read_leaves(parse(whole)) == reference(small)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(stored)


def test_header_classes_are_made_once_per_name() -> None:
    """The registry behind parsing and composing makes each header's class once (the standard library
    makes a new one per header), and a header reads the same through it."""
    registry = HeaderClasses()
    assert registry["Subject"] is registry["subject"] and registry["To"] is not registry["Subject"]
    assert str(registry("Subject", "Proposition de mission — Ville-Test")) == "Proposition de mission — Ville-Test"
    assert registry("To", "Mairie <mairie@ville-test.fr>").addresses[0].domain == "ville-test.fr"
