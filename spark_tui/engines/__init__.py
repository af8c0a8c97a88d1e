"""Engines: which are installed, their versions, and (later) launching and supervising them."""
