"""Tierline billing providers domain."""
