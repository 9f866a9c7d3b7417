"""The campaign file: one typed model per concern, validated before any compute."""
