"""Tierline referrals domain."""
