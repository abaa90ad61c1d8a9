"""Signed monthly statements ("états mensuels du service fait") and their ten-year store."""
