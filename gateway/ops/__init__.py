"""Operating the gateway: process roles, heartbeats, health, metrics and request logs."""
