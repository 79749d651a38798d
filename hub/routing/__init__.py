"""Where a camera's stream lives: one hub alone (local), or many hubs sharing Redis."""
