"""Mail delivery. The embedded default writes each message as an .eml file under the data
directory instead of sending it; the file is named by the message's Message-ID, and created
only if absent, so a repeated delivery of the same cause leaves exactly one message. (SMTP
delivery: infra/smtp.py.)"""

from __future__ import annotations

import os
import re
import tempfile
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

SENDER = "tillroll <shop@tillroll.invalid>"


def to_email(mail: Any, sender: str = SENDER) -> EmailMessage:
    """An OutgoingMail (commands.ports) as a standard e-mail message."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id
    message["Date"] = formatdate(usegmt=True)
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text)
    if getattr(mail, "html", ""):
        message.add_alternative(mail.html, subtype="html")
    return message


class FileMailer:
    """Writes messages as `<directory>/<message id>.eml`."""

    def __init__(self, directory: Path, sender: str = SENDER) -> None:
        self.directory = Path(directory)
        self.sender = sender

    def path_of(self, message_id: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9@._-]", "", message_id) or "message"
        return self.directory / f"{name}.eml"

    def send(self, mail: Any) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.path_of(mail.message_id)
        if final.exists():
            return False
        data = to_email(mail, self.sender).as_bytes()
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".sending-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, final)  # atomic create-if-absent: two senders, one file
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(tmp)
