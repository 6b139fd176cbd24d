"""Task-specific pieces: metrics and output handling per task (classification today)."""
