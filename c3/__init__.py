"""The C3 recipe (Kim et al., CVPR 2024) on top of coolchic's model and fitting loop."""
