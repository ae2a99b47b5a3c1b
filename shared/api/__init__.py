"""Request/response conventions shared by every function: the error model, JSON parsing and validation,
routing within an endpoint family, and the caller's identity as forwarded by API Gateway."""
