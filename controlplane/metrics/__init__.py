"""Prometheus metrics: what the processes count (``registry``), what the scrape reads from the database and Redis
(``collectors``), the HTTP middleware, the ``/metrics`` endpoint, and the multiprocess set-up (``process``)."""
