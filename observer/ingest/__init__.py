"""Everything that brings events in: the spool the hooks write (spool.py), the Ingestor that
drains and applies it (drain.py), the file tailers (rollouts.py, watch_files.py), the live usage
tracker (usage_live.py) and the price table (prices.py, prices.toml).

May import: observer.agents, observer.core, observer.runtime, observer.settings, observer.store,
connectors. (tests/test_layers.py holds every package to its list.)
"""
