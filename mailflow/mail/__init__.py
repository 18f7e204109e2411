"""The interfaces to the outside: mailboxes (IMAP, Maildir), transports (SMTP, directory), OAuth2 tokens,
the outbox, the mail templates and the safe composition of an outgoing mail."""
