"""The post-mortem draft: timeline and metrics (pure), Markdown, picture."""
