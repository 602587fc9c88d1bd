"""Networks trained on real images by others, read into torch as trunks to start from (MediaPipe's BlazePose)."""
