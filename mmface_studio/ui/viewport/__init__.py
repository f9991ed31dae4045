"""vispy/OpenGL viewport for the head."""
