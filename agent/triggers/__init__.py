"""What asks for clips: the GPIO button (``button``, with the status LED in ``led``), the
LAN endpoint for phones (``lan``); cloud commands and detection rules call the same
:class:`agent.interfaces.triggers.ClipTrigger`."""
