"""The web interface: server-rendered pages for creators, operators and auditors, on top of the registry."""
