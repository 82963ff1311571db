"""bot-bottle's bundle daemon: egress proxy, DNS sink and audit log in one process."""
