"""Timeline export for AI: documents, downloadable archives, embeddings sinks."""
