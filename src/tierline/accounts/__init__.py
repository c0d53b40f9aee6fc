"""Tierline accounts domain."""
