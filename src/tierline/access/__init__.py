"""Tierline access domain."""
