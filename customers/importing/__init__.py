"""Customer files: reading (`reading`) and checking rows with the model's rules (`validation`)."""
