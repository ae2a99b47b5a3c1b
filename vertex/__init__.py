"""What runs on Vertex AI: the training entry point (a custom job) and the prediction server (an endpoint's
custom container). Both run unchanged as local processes against the emulators."""
