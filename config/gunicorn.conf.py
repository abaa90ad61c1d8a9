"""gunicorn configuration of the extranet (``telegestion extranet serve`` passes it).

Values come from the ``[extranet]`` settings (TELEGESTION_EXTRANET_BIND,
_WORKERS, _THREADS); the application is built in each worker after the fork,
so that no database connection is shared between processes.
"""

from extranet.settings import load

_settings = load()

wsgi_app = "extranet.wsgi:build()"
bind = _settings.bind
workers = _settings.workers
worker_class = "gthread"
threads = _settings.threads
preload_app = False
timeout = 60
graceful_timeout = 20
keepalive = 5
# Bounded requests: no slow-loris of huge headers.
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
# The access log shows paths and status, never query strings (they may hold names).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
# gunicorn believes no forwarded header itself: the app does, through ProxyFix,
# only when extranet.trusted_proxies says so (one place for that decision).
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
proc_name = "telegestion-extranet"
