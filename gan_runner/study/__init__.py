"""Study tools: a run's identity in its sweep, where a sweep's jobs run, comparing runs."""
