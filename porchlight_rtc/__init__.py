"""WebRTC plumbing shared by the hub and the camera agent."""
