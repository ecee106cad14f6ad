"""The light client: verify a proven answer against an anchored ghostRoot (pure), plus wallet,
query, audit and challenge helpers that take their network connections as arguments."""
