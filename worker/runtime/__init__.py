"""The shell: the worker loop and the collaborators that read, carry out and record."""
