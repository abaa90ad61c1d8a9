"""Pre-billing and the ESPPADOM teletransmission to the Département."""
