"""The consent decision (pure) and the per-camera gates that apply it to every frame."""
