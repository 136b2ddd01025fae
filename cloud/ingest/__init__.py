"""The MQTT consumer: device messages into the cloud database, receipts back.

:class:`cloud.ingest.service.IngestService` is what ``sideline cloud ingest``
runs; docs/ingest.md explains how it works and why.
"""
