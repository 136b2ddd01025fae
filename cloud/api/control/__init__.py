"""Telling devices what to do: the protocol the API uses and its MQTT implementation."""
