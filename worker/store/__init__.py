"""The worker's memory: engine, schema and the queries."""
