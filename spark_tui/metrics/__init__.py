"""Live numbers from a running engine: /metrics scraped into samples, counters turned into rates."""
