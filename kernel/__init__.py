"""The shared kernel: what every feature package may import, and that imports none of them.

Settings loading, the shapes of scheduled jobs and of the run journal, the
scheduler that runs them, the file transport (local folders or SFTP) and small
file helpers. It imports ``ledger`` only (for the declarative base and time
rules). The composition root (``config``) is the only code that imports every
package. See docs/decisions/0004-kernel-and-composition-root.md.
"""
