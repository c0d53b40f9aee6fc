"""Tierline billing domain."""
