"""Legacy formats (.doc, .rtf) converted to .docx by LibreOffice headless, when it is installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from mailflow.errors import ExtractionError
from mailflow.pipeline.extract.limits import Deadline

FORMAT_NAMES = {"doc": "document Word 97-2003 (.doc)", "rtf": "document RTF (.rtf)"}


def soffice_path() -> str | None:
    """The LibreOffice executable, or None when it is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_docx(data: bytes, kind: str, deadline: Deadline) -> bytes:
    """The .docx bytes LibreOffice makes of a .doc/.rtf file, within the document's time budget."""
    soffice = soffice_path()
    if soffice is None:
        raise ExtractionError(f"format non pris en charge sans conversion (LibreOffice absent) : "
                              f"{FORMAT_NAMES.get(kind, kind)} ; merci d'envoyer le formulaire "
                              "en .docx ou en PDF")
    with tempfile.TemporaryDirectory(prefix="mailflow-convert-") as tmp:
        source = Path(tmp) / f"document.{kind}"
        source.write_bytes(data)
        profile = Path(tmp) / "profile"
        command = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                   "--convert-to", "docx", "--outdir", tmp, str(source)]
        try:
            subprocess.run(command, capture_output=True, timeout=max(1.0, deadline.remaining()), check=False)
        except subprocess.TimeoutExpired:
            raise ExtractionError(f"conversion du {FORMAT_NAMES.get(kind, kind)} interrompue : délai de "
                                  f"{deadline.seconds:g} s dépassé") from None
        except OSError:
            raise ExtractionError("conversion impossible : LibreOffice n'a pas pu être lancé") from None
        result = Path(tmp) / "document.docx"
        if not result.exists():
            raise ExtractionError(f"le {FORMAT_NAMES.get(kind, kind)} est endommagé ou illisible "
                                  "(conversion par LibreOffice impossible)")
        return result.read_bytes()
