"""What a user runs on the pipeline's outputs: the `spam` command, the predictor it loads, the web app."""
