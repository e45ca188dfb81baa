"""Sessions observer launches itself and drives through each agent's programmatic interface.

May import: observer.agents, observer.core, observer.install, observer.runtime, connectors.
(tests/test_layers.py holds every package to its list.)
"""
