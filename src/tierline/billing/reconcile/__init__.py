"""Reconciliation: compare Tierline's subscriptions with the provider's, and repair them.

The general repair for every lost, late or misapplied webhook: fetch the provider's current
subscriptions through its API, diff them against Tierline's rows, and (``--apply``) write the
provider's state through the webhook path as synthetic events.
"""
