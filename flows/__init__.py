"""Flat-file exchanges with the planning software, transports and the scheduler."""
