"""MoKG: a graph-database-backed marketing knowledge platform (GLoM lookalikes, PAIR mining)."""

__version__ = "0.1.0"
