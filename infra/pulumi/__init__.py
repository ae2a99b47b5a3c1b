"""The Pulumi program (__main__.py), the OpenAPI document for API Gateway, and the one declaration of
topics, subscriptions, queues, buckets, schedules and secrets (resources.yaml) that the local stack reads too."""
