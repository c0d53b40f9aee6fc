"""Example apps built on Tierline: copy them, they are small on purpose.

* :mod:`examples.fastapi_app`: magic-code login, referrals, a 402-gated API, the fake checkout
  (what ``tierline demo`` serves).
* :mod:`examples.flask_app`: tiers with permissions and a seat limit on team members.
"""
