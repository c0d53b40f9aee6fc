"""Tierline credits domain."""
