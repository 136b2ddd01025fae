"""Local copies of the real services (Mosquitto, SeaweedFS, PostgreSQL).

They start the embedded default on one machine and the test fixtures; production
points the same code at a broker cluster, S3 and a managed PostgreSQL instead.
"""
