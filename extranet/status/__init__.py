"""The state of the service's parts (``kernel.alerts``): a status page and a banner."""
