"""Fakes and helpers shared by the tests: stand-in agents, a live-server client, fixtures' paths."""
