"""Explicit, versioned Arrow schemas of the output tables, and the batch that carries them."""
