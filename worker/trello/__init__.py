"""The gateway: the only importer of py-trello and requests."""
