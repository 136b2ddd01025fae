"""The edge agent: capture -> detect / clip -> buffer -> sync, wired by the daemon."""
