"""Tierline web domain."""
