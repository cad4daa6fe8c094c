"""The staff console: server-rendered HTML at / (see docs/console.md)."""
