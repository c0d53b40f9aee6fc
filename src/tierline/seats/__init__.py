"""Seats: members assigned to an account, bounded by the tier's seats times the quantity."""
