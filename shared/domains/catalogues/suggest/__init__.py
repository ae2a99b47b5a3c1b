"""Contextual suggestions (POST /v1/suggest, POST /v1/events): surfaces, A/B arms, serving and the event sink."""
