"""Explicit, versioned Arrow schemas of the output tables."""
