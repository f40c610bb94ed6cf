"""Host-side, bit-exact coding: the .cool image and video formats on one record layer, the
fixed-point ARM, weight and latent coding, and the numpy reconstruction both ends share."""
