"""The cloud: ingest (MQTT consumer), API and dashboard, over one data model."""
