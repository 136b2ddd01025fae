"""What the agent and the cloud both use that is not the wire contract.

Three things, each needed on both sides and owned by neither: settings loading
with readable errors (``core.settings``), the credentials both sides write or
check (``core.credentials``: Mosquitto's ``$7$`` password hashes, S3 identities)
and the product's version. ``core`` imports neither ``agent``, ``cloud`` nor
``sideline``; what travels between box and cloud lives in ``protocol``.
"""

__version__ = "0.1.0"
