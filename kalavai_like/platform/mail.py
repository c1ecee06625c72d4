"""Email the platform sends (password-reset links), over SMTP as its settings say."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from kalavai_like.platform.settings import PlatformSettings

log = logging.getLogger(__name__)


def configured(cfg: PlatformSettings) -> bool:
    """True when this platform can send email (it has an SMTP host)."""
    return bool(cfg.smtp_host)


def _login(cfg: PlatformSettings) -> tuple[str, str] | None:
    if not cfg.smtp_credentials_file:
        return None
    lines = Path(cfg.smtp_credentials_file).read_text(encoding="utf-8").splitlines()
    if len(lines) < 2:
        raise ValueError("smtp_credentials_file needs the user on line 1, the password on line 2")
    return lines[0].strip(), lines[1]


def send(cfg: PlatformSettings, to: str, subject: str, text: str) -> bool:
    """Send one plain-text message; False (and a log line without the address) if it failed."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = cfg.smtp_from, to, subject
    msg.set_content(text)
    try:
        login = _login(cfg)
        context = ssl.create_default_context()
        if cfg.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                cfg.smtp_host, cfg.smtp_port, timeout=30, context=context
            )
        else:
            smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=30)
        with smtp:
            if cfg.smtp_security == "starttls":
                smtp.starttls(context=context)
            if login is not None:
                smtp.login(*login)
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        log.warning("could not send email via %s: %s", cfg.smtp_host, type(exc).__name__)
        return False
    return True
