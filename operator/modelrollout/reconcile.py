"""Observe -> decide -> act: the only place that sequences the adapters and the engine."""
