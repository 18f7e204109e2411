"""The running service: the daemon loop, leadership, alerts, health, logging, and the composition root (`app`)."""
