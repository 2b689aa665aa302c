"""The patterns of names and ids the API accepts, in one place."""
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
IMAGE_ID = r"^[0-9a-f]{64}$"  # sha256 of the image bytes
KEYPOINT_MODEL_ID = r"^[0-9a-f]{24}$"
KEYPOINT_NAME = r"^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,63}$"
