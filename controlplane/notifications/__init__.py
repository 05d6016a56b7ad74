"""In-app notifications: a feature writes one with :func:`controlplane.notifications.service.notify` in its own
transaction; the account reads them at ``GET /v1/notifications``."""
