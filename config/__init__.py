"""Composition: settings, the command line, the database schema and migrations."""
