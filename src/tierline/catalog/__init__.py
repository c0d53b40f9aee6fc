"""Tierline catalog domain."""
