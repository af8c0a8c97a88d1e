"""Several boxes as one cluster: the `[cluster]` settings (config, pure: settings.py reads it) and `cluster check`,
which verifies every node over SSH (ssh, checks). Kept empty so that importing the config costs nothing else."""
