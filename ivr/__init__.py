"""The IVR: an Asterisk ARI application that records arrivals and departures."""
