"""A corpus of mail written by software, as other software writes it: bounces, list mail, auto-replies.

    robot_mails() -> list[RobotMail]     # each one: name, family, the parsed mail

Every mail is generated here from the formats of the software it imitates (Postfix, Exim,
Sendmail, qmail, Exchange and Microsoft 365, Gmail, Yahoo, Domino, French providers, virus
scanners; Mailman 2 and 3, Sympa, Google Groups, LISTSERV, Majordomo, ezmlm, a newsletter;
vacation and out-of-office replies from Outlook, Gmail, Zimbra, Thunderbird, Sieve, cPanel,
Domino, help desks). Nothing is copied from real mails: names and addresses are invented, on
example domains. Several are deliberately stripped of the header a well-behaved program would
add (no Auto-Submitted, no List-Id, an ordinary-looking sender), so that each kind of sign is
exercised alone. Many answer one of mailflow's own acknowledgements (In-Reply-To, `[PC-…]` in
the subject), so a thread lookup would find them: they must still never be answered.
"""

from __future__ import annotations

from tests.corpus.bounces import bounces
from tests.corpus.lists import auto_replies, lists
from tests.corpus.robot_formats import RobotMail

__all__ = ["RobotMail", "auto_replies", "bounces", "lists", "robot_mails"]


def robot_mails() -> list[RobotMail]:
    """The whole corpus: bounces, list mail and auto-replies."""
    return bounces() + lists() + auto_replies()
