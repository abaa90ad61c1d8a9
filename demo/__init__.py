"""The synthetic demo organisation (Paris antennas, workers, beneficiaries, a month of calls)."""
