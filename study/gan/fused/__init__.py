"""Fused trials: several trials of one model trained together as stacked networks (issue 16)."""
