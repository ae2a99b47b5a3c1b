"""One module per managed service. Each builds its client from Settings (env) only.

Locally the same official clients point at stand-ins through the usual emulator settings.
"""
