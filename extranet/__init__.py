"""The extranet: antenna managers and central referents follow and correct visits."""
