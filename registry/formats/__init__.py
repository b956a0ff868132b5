"""Content decoders, one module per kind of content, and the signatures of formats no decoder takes."""
