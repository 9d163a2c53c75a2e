"""Face-off videos: frames from a video, a trained model applied to a video, the paper's figures."""
