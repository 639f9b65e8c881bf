"""The incident process, pure: no I/O, no clock, no settings."""
