"""The one error every stream reader raises: images, videos and the baselines' files alike."""


class BitstreamError(ValueError):
    """A stream that is not a valid file of its format (truncated, corrupt, unsupported, for other weights)."""
