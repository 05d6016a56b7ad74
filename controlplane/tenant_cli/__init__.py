"""The tenant's command line: ``controlplane login``, ``apply``, ``get``, ``list``, ``delete``, ``history``,
``balance``, ``top-up``. It talks to the API over HTTP only (httpx), with an API key, and imports nothing of the
server but the configuration document's model (to show a dry run's diff the way the server reads the file)."""
