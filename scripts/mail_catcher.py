"""``make run``'s mail server: an aiosmtpd handler that prints each mail, with its links.

Run as ``python -m aiosmtpd -n -l 127.0.0.1:8025 -c mail_catcher.PrintMail`` (with
``scripts/`` on ``PYTHONPATH``); nothing is delivered anywhere.
"""

from __future__ import annotations

import email
import email.policy
import re
import sys

_LINK = re.compile(r"https?://\S+")


class PrintMail:
    """Print the sender, recipient, subject, plain-text body and links of every mail."""

    @classmethod
    def from_cli(cls, parser, *args):
        return cls()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body else ""
        rule = "=" * 72
        print(
            f"\n{rule}\n  Mail to {', '.join(envelope.rcpt_tos)}: {str(message['Subject']).strip()}"
        )
        print(f"{rule}\n{text.rstrip()}\n{rule}")
        print("  Links: " + "\n         ".join(_LINK.findall(text)) + f"\n{rule}\n")
        sys.stdout.flush()
        return "250 Message accepted for delivery"
