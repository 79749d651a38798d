"""One notification e-mail through the configured SMTP server (aiosmtplib), for residents who gave an address.

Plain text: the notice's title as the subject, its body, and the link to the resident page (answers are given
there, after logging in; an e-mail carries no way to approve by itself). The address is never logged.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib

from hub.config import NotifyConfig
from hub.notify.messages import Notice
from hub.notify.push import Outcome

log = logging.getLogger(__name__)


def compose(notice: Notice, sender: str, recipient: str, page_url: str) -> EmailMessage:
    """The message for one notice."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = notice.title
    link = page_url + str(notice.payload.get("url", "/resident"))
    answer = "Approve or decline it on your page" if notice.kind == "request" else "See who is watching"
    message.set_content(f"{notice.body}\n\n{answer}: {link}\n\n(Porchlight; change this address on your page.)\n")
    return message


class EmailSender:
    """Sends notices through one SMTP server."""

    def __init__(self, config: NotifyConfig, page_url: str) -> None:
        if config.smtp_host is None:
            raise ValueError("no SMTP server is configured")
        self._config = config
        self._host = config.smtp_host
        self._password = config.smtp_secret()
        self._page_url = page_url

    async def send(self, recipient: str, notice: Notice) -> Outcome:
        """Deliver one notice to `recipient`; failures are logged (without the address) and answered FAILED."""
        config = self._config
        message = compose(notice, config.email_from, recipient, self._page_url)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=config.smtp_port,
                username=config.smtp_username,
                password=self._password,
                use_tls=config.smtp_security == "tls",
                start_tls=config.smtp_security == "starttls",
                timeout=config.send_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("notification e-mail via %s:%d failed: %s", self._host, config.smtp_port, type(exc).__name__)
            return Outcome.FAILED
        return Outcome.SENT
