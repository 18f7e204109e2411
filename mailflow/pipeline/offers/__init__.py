"""Stage offers: the second kind of proposal of the stages mailbox (read, checked, filed as ST-…)."""
