"""Measuring the codec: distortion metrics, BD-rate, published anchor curves, plots, and the
dataset runner behind `coolchic eval`."""
