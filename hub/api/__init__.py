"""The JSON API the pages use: log-in, cameras and consent, the pilot."""
