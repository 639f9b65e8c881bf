"""The worker's HTTP server: Trello's webhook deliveries and the health check."""
