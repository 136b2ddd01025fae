"""The share page a share link opens: static HTML, CSS and a small JS module."""
