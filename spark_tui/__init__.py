"""spark-tui: a terminal model manager and compatibility advisor for NVIDIA DGX Spark and other NVIDIA GPUs."""

__version__ = "0.1.0"
