"""Sessions observer launches itself and drives through each agent's programmatic interface."""
