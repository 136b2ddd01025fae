"""Who is asking: the principal and organisation every service is scoped by (``scope``)
and API tokens, minted once and stored hashed (``tokens``)."""
