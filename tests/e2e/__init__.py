"""The real-agents lane: real agent CLIs against a fake LLM, observed by a running observer."""
