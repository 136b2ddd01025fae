"""The boxes, as the cloud manages them.

- ``registry``: registering a box (its row, MQTT and S3 credentials); it refuses
  with the domain errors of :mod:`cloud.errors`;
  ``agent_config`` prints the config file a new box needs;
- ``broker_auth``: Mosquitto's password and ACL files from the registry;
- ``control``: :class:`~cloud.devices.control.DeviceControl`, retained desired
  state and one-shot commands; ``commands``: a command's states and the box's
  acknowledgements.
"""
