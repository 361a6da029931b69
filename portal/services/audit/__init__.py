"""The audit log: written by operations, read a page at a time, fed to tools, summarised."""
