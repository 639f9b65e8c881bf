"""incident-worker: runs a team's incident process on Trello."""

__version__ = "0.1.0"
